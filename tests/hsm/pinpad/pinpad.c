/*
 * A PIN-pad emulator for tests: a PKCS#11 module that forwards every call to another module
 * (SoftHSM) and changes two things, to stand in for a token with a protected authentication
 * path, which SoftHSM cannot emulate:
 *   - C_GetTokenInfo adds CKF_PROTECTED_AUTHENTICATION_PATH to the token's flags;
 *   - C_Login with a zero-length PIN (NULL, or empty as OpenSC accepts for a PIN pad) is
 *     "entered on the pad": the PIN is read from $PINPAD_PIN_FILE, never from the caller.
 * Each login is noted in $PINPAD_LOG as "pad|host <userType>" (never the PIN).
 *   $PINPAD_MODULE   the module to forward to
 * Test code only: built by tests/hsm/test_pinpad.py with gcc; never part of the appliance.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned long CK_ULONG;
typedef CK_ULONG CK_RV;
typedef struct { unsigned char major, minor; } CK_VERSION;
#define N_FUNCTIONS 68 /* PKCS#11 2.40 CK_FUNCTION_LIST */
typedef struct { CK_VERSION version; void *f[N_FUNCTIONS]; } FUNCTION_LIST;
enum { I_GetFunctionList = 3, I_GetTokenInfo = 6, I_Login = 18 };
#define CKF_PROTECTED_AUTHENTICATION_PATH 0x100UL
#define CKR_GENERAL_ERROR 0x5UL
#define TOKEN_INFO_FLAGS_OFFSET 96 /* label[32] manufacturerID[32] model[16] serialNumber[16] */

typedef CK_RV (*GetFunctionList)(FUNCTION_LIST **);
typedef CK_RV (*GetTokenInfo)(CK_ULONG, void *);
typedef CK_RV (*Login)(CK_ULONG, CK_ULONG, unsigned char *, CK_ULONG);

static FUNCTION_LIST *real;
static FUNCTION_LIST shim;

static void note(const char *how, CK_ULONG user_type) {
    const char *path = getenv("PINPAD_LOG");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (f) { fprintf(f, "%s %lu\n", how, user_type); fclose(f); }
}

static CK_RV shim_GetTokenInfo(CK_ULONG slot, void *info) {
    CK_RV rv = ((GetTokenInfo)real->f[I_GetTokenInfo])(slot, info);
    if (rv == 0) *(CK_ULONG *)((char *)info + TOKEN_INFO_FLAGS_OFFSET) |= CKF_PROTECTED_AUTHENTICATION_PATH;
    return rv;
}

static CK_RV shim_Login(CK_ULONG session, CK_ULONG user_type, unsigned char *pin, CK_ULONG len) {
    Login login = (Login)real->f[I_Login];
    if (len != 0) { note("host", user_type); return login(session, user_type, pin, len); }
    char pad[256] = {0};
    const char *path = getenv("PINPAD_PIN_FILE");
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) return CKR_GENERAL_ERROR;
    size_t n = fread(pad, 1, sizeof pad - 1, f);
    fclose(f);
    while (n && (pad[n - 1] == '\n' || pad[n - 1] == '\r')) pad[--n] = 0;
    note("pad", user_type);
    CK_RV rv = login(session, user_type, (unsigned char *)pad, n);
    memset(pad, 0, sizeof pad);
    return rv;
}

CK_RV C_GetFunctionList(FUNCTION_LIST **out) {
    if (!real) {
        const char *path = getenv("PINPAD_MODULE");
        void *h = path ? dlopen(path, RTLD_NOW | RTLD_LOCAL) : NULL;
        GetFunctionList get = h ? (GetFunctionList)dlsym(h, "C_GetFunctionList") : NULL;
        if (!get || get(&real) != 0) return CKR_GENERAL_ERROR;
        memcpy(&shim, real, sizeof shim);
        shim.f[I_GetFunctionList] = (void *)C_GetFunctionList;
        shim.f[I_GetTokenInfo] = (void *)shim_GetTokenInfo;
        shim.f[I_Login] = (void *)shim_Login;
    }
    *out = &shim;
    return 0;
}
