#!/usr/bin/env bash
# `make demo`: a full rehearsal ceremony on a fresh SoftHSM token under ./demo/.
# Safe to run again: it says so and replaces only ./demo (a rehearsal, never a real token).
set -euo pipefail
cd "$(dirname "$0")/.."
V=$PWD/.venv/bin
D=$PWD/demo
MODULE=""
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
         /usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so; do
  [ -e "$m" ] && { MODULE=$m; break; }
done
[ -n "$MODULE" ] || { echo "demo: SoftHSM2 module not found (apt install softhsm2)"; exit 1; }

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" | sed "s#$PWD/##g"; "$@"; }

if [ -e "$D" ]; then
  step "Removing the previous rehearsal in ./demo (its SoftHSM token, home and outputs)"
  rm -rf "$D"
fi
mkdir -p "$D/online"

step "1. A fresh SoftHSM2 rehearsal token (never your own tokens)"
run softhsm-config/make-token.sh "$D/token" airgap-demo
export SOFTHSM2_CONF=$D/token/softhsm2.conf
S=("$V/signer" --home "$D/home")

step "2. Initialise the appliance: rehearsal home, 2-of-3 custodian shares, log key in the token"
run "${S[@]}" init --module "$MODULE" --token airgap-demo --rehearsal --quorum 2/3 \
    --shares-out "$D/shares" --share-cards "$D/cards" --pin-file "$D/token/user.pin" \
    --name rehearsal.community-ca.example
# Each custodian would print a card, type it back, and seal it; here the share files stand in.
run "$V/signer" cards check "$D/cards" --share "$D/shares/share-1-of-3.txt" \
    --share "$D/shares/share-2-of-3.txt" --share "$D/shares/share-3-of-3.txt"
# Custodians 1 and 3 unlock every later step; nobody knows the token PIN any more.
AUTH=(--share "$D/shares/share-1-of-3.txt" --share "$D/shares/share-3-of-3.txt")

step "3. Key ceremony: CA keys generated inside the token"
run "${S[@]}" key generate root-key --algorithm ec-p384 "${AUTH[@]}"
run "${S[@]}" key generate class1-key --algorithm ec-p256 "${AUTH[@]}"
run "${S[@]}" key generate class3-key --algorithm ec-p384 "${AUTH[@]}"
run "${S[@]}" key list "${AUTH[@]}"

step "4. The root and the Class 1 and Class 3 sub-CAs"
run "${S[@]}" ca root root --key root-key --subject "CN=Community Rehearsal Root CA,O=Community CA,C=AU" "${AUTH[@]}"
run "${S[@]}" ca sub class1 --issuer root --key class1-key --subject "CN=Community Rehearsal Class 1 CA,O=Community CA,C=AU" "${AUTH[@]}"
run "${S[@]}" ca sub class3 --issuer root --key class3-key --subject "CN=Community Rehearsal Class 3 CA,O=Community CA,C=AU" "${AUTH[@]}"
run "${S[@]}" ca list
run openssl verify -CAfile "$D/home/certs/root.pem" "$D/home/certs/class1.pem" "$D/home/certs/class3.pem"

if ! "$V/signer" batch --help >/dev/null 2>&1; then
  step "Done (batch signing is not in this build)"; exit 0
fi

step "5. Online side: the RA's key, member CSRs (a few hostile ones among them), a signed bundle"
O=$D/online
run "${S[@]}" request keygen --out "$O/ra.key"
csr() { # name key-args subject [addext...]
  local n=$1 alg=$2 subj=$3; shift 3
  openssl req -new -newkey "$alg" -nodes -keyout "$O/$n.key" -subj "$subj" "$@" -out "$O/$n.csr" 2>/dev/null
}
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$O/r1-server.key" -subj "/CN=www.example.org" -addext "subjectAltName=DNS:www.example.org,DNS:example.org" -out "$O/r1-server.csr" 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$O/r2-client.key" -subj "/CN=Alice Example" -out "$O/r2-client.csr" 2>/dev/null
openssl req -new -newkey ed25519 -nodes -keyout "$O/r3-email.key" -subj "/emailAddress=bob@example.net" -addext "subjectAltName=email:bob@example.net" -out "$O/r3-email.csr" 2>/dev/null
openssl req -new -newkey rsa:1024 -nodes -keyout "$O/h1-weak.key" -subj "/CN=weak.example.org" -addext "subjectAltName=DNS:weak.example.org" -out "$O/h1-weak.csr" 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$O/h2-unverified.key" -subj "/CN=www.example.org" -addext "subjectAltName=DNS:www.example.org,DNS:bank.example.com" -out "$O/h2-unverified.csr" 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$O/h3-ca.key" -subj "/CN=evil.example.org" -addext "basicConstraints=critical,CA:TRUE" -addext "subjectAltName=DNS:evil.example.org" -out "$O/h3-ca.csr" 2>/dev/null
head -c 300 /dev/urandom > "$O/h4-garbage.csr"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$O/h5-class3.key" -subj "/CN=shop.example.org" -addext "subjectAltName=DNS:shop.example.org" -out "$O/h5-class3.csr" 2>/dev/null
cat > "$O/spec-1.json" <<JSON
{"ra": "ra1", "requests": [
 {"id": "r1-server", "ca": "class1", "profile": "server", "csr": "r1-server.csr", "subscriber": "member-1001",
  "verified": {"dns": ["www.example.org", "example.org"], "email": [], "name": null, "points": 10}},
 {"id": "r2-client", "ca": "class3", "profile": "client", "csr": "r2-client.csr", "subscriber": "member-1002",
  "verified": {"dns": [], "email": ["alice@example.net"], "name": "Alice Example", "points": 100}},
 {"id": "r3-email", "ca": "class1", "profile": "email", "csr": "r3-email.csr", "subscriber": "member-1003",
  "verified": {"dns": [], "email": ["bob@example.net"], "name": null, "points": 0}},
 {"id": "h1-weak", "ca": "class1", "profile": "server", "csr": "h1-weak.csr", "subscriber": "member-1004",
  "verified": {"dns": ["weak.example.org"], "email": [], "name": null, "points": 10}},
 {"id": "h2-unverified", "ca": "class1", "profile": "server", "csr": "h2-unverified.csr", "subscriber": "member-1005",
  "verified": {"dns": ["www.example.org"], "email": [], "name": null, "points": 10}},
 {"id": "h3-ca", "ca": "class1", "profile": "server", "csr": "h3-ca.csr", "subscriber": "member-1006",
  "verified": {"dns": ["evil.example.org"], "email": [], "name": null, "points": 10}},
 {"id": "h4-garbage", "ca": "class1", "profile": "server", "csr": "h4-garbage.csr", "subscriber": "member-1007",
  "verified": {"dns": ["x.example.org"], "email": [], "name": null, "points": 10}},
 {"id": "h5-class3-low", "ca": "class3", "profile": "server", "csr": "h5-class3.csr", "subscriber": "member-1008",
  "verified": {"dns": ["shop.example.org"], "email": [], "name": null, "points": 20}}
], "revocations": []}
JSON
run "${S[@]}" request pack "$O/spec-1.json" --ra-key "$O/ra.key" --seq 1 --out "$O/batch-1.req"

step "6. Across the gap: the RA key is pinned, the bundle imported and judged"
run "${S[@]}" ra trust ra1 "$O/ra.key.pub" "${AUTH[@]}"
run "${S[@]}" batch import "$O/batch-1.req" "${AUTH[@]}"
run "${S[@]}" batch show ra1-1

step "7. Signing what policy accepted, and the signed result bundle"
run "${S[@]}" batch sign ra1-1 "${AUTH[@]}"
run "${S[@]}" batch export ra1-1 --out "$O/result-1.res" "${AUTH[@]}"
"${S[@]}" audit pubkey > "$O/appliance.pub"

step "8. Online side: verify the result bundle and check every certificate independently"
run "${S[@]}" result verify "$O/result-1.res" --trust "$O/appliance.pub" --request "$O/batch-1.req" --out "$O/result-1"
cat "$D/home/certs/root.pem" "$D/home/certs/class1.pem" "$D/home/certs/class3.pem" > "$O/chain.pem"
for c in "$O"/result-1/certs/*.pem; do
  run openssl verify -CAfile "$D/home/certs/root.pem" -untrusted "$O/chain.pem" "$c"
done

step "9. A revocation and a CRL"
serial=$("$V/python" -c "import json,sys; d=json.load(open(sys.argv[1])); print([o['serial'] for o in d['outcomes'] if o['id']=='r1-server'][0])" "$O/result-1/outcomes.json")
run "${S[@]}" revoke class1 "$serial" --reason keyCompromise "${AUTH[@]}"
run "${S[@]}" crl issue class1 --out "$O/class1.crl" "${AUTH[@]}"
run openssl crl -in "$O/class1.crl" -CAfile "$D/home/certs/class1.pem" -noout -verify -text | head -n 12

if "$V/signer" audit verify --help >/dev/null 2>&1; then
  step "10. The auditor verifies the ceremony log offline"
  run "${S[@]}" audit verify --bundle "$O/result-1.res"
fi

step "11. A second batch, imported and waiting for the custodians' review in the TUI"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$O/r6-server.key" -subj "/CN=wiki.example.org" -addext "subjectAltName=DNS:wiki.example.org" -out "$O/r6-server.csr" 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$O/r7-email.key" -subj "/CN=Carol Example" -addext "subjectAltName=email:carol@example.net" -out "$O/r7-email.csr" 2>/dev/null
cat > "$O/spec-2.json" <<JSON
{"ra": "ra1", "requests": [
 {"id": "r6-server", "ca": "class1", "profile": "server", "csr": "r6-server.csr", "subscriber": "member-1010",
  "verified": {"dns": ["wiki.example.org"], "email": [], "name": null, "points": 35}},
 {"id": "r7-email", "ca": "class3", "profile": "email", "csr": "r7-email.csr", "subscriber": "member-1011",
  "verified": {"dns": [], "email": ["carol@example.net"], "name": "Carol Example", "points": 150}},
 {"id": "h8-unverified", "ca": "class1", "profile": "server", "csr": "h2-unverified.csr", "subscriber": "member-1012",
  "verified": {"dns": ["www.example.org"], "email": [], "name": null, "points": 10}}
], "revocations": []}
JSON
run "${S[@]}" request pack "$O/spec-2.json" --ra-key "$O/ra.key" --seq 2 --out "$O/batch-2.req"
run "${S[@]}" batch import "$O/batch-2.req" "${AUTH[@]}"

step "Made in ./demo"
cat <<TXT
  demo/home            the appliance's home: signer.toml, ledger.sqlite, log/ceremony.jsonl, certs/, crls/
  demo/shares          the three custodian share files (2 of 3 unlock the token)
  demo/cards           their printable cards (HTML and PDF, one page per custodian)
  demo/online          the RA side: ra.key, CSRs, batch-1.req, result-1.res, result-1/ (unpacked), class1.crl
Verify it yourself:
  openssl verify -CAfile demo/home/certs/root.pem demo/home/certs/class1.pem demo/home/certs/class3.pem
  SOFTHSM2_CONF=demo/token/softhsm2.conf .venv/bin/signer --home demo/home key list --share demo/shares/share-2-of-3.txt --share demo/shares/share-3-of-3.txt
The ceremony UI (batch ra1-2 waits for review; unlock with two of the share files' words):
  SOFTHSM2_CONF=demo/token/softhsm2.conf .venv/bin/signer --home demo/home tui
TXT
if [ -t 0 ] && [ -t 1 ] && "$V/signer" tui --help >/dev/null 2>&1; then
  step "12. The ceremony terminal UI (q quits)"
  exec "${S[@]}" tui
fi
