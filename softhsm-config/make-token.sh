#!/usr/bin/env bash
# Create a SoftHSM2 rehearsal token in DIR (never the user's own tokens).
#   make-token.sh DIR LABEL
# Writes DIR/softhsm2.conf, DIR/tokens/, DIR/user.pin and DIR/so.pin (random, mode 0600).
# Use it with:  export SOFTHSM2_CONF=DIR/softhsm2.conf
# SOFTHSM_MECHANISMS=CKM_A,CKM_B,... restricts the slots to that allow-list (slots.mechanisms),
# to rehearse on what a smaller HSM offers; the default is ALL.
set -euo pipefail
dir=${1:?usage: make-token.sh DIR LABEL}
label=${2:?usage: make-token.sh DIR LABEL}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dir/tokens"
dir=$(cd "$dir" && pwd)
if [ -e "$dir/softhsm2.conf" ]; then
  echo "make-token.sh: $dir already holds a token configuration; refusing to overwrite" >&2
  exit 1
fi
mechanisms=${SOFTHSM_MECHANISMS:-ALL}
case "$mechanisms" in *[!A-Za-z0-9_,-]*) echo "make-token.sh: bad SOFTHSM_MECHANISMS" >&2; exit 1;; esac
sed -e "s#@TOKENDIR@#$dir/tokens#" -e "s#@MECHANISMS@#$mechanisms#" "$here/softhsm2.conf.in" \
  > "$dir/softhsm2.conf"
umask 077
od -An -N12 -tx1 /dev/urandom | tr -d ' \n' > "$dir/user.pin"
od -An -N12 -tx1 /dev/urandom | tr -d ' \n' > "$dir/so.pin"
SOFTHSM2_CONF="$dir/softhsm2.conf" softhsm2-util --init-token --free --label "$label" \
  --so-pin "$(cat "$dir/so.pin")" --pin "$(cat "$dir/user.pin")" >/dev/null
echo "token '$label' created in $dir (SOFTHSM2_CONF=$dir/softhsm2.conf, PIN in $dir/user.pin)"
