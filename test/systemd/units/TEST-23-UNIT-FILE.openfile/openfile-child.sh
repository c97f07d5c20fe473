#!/bin/sh
# Stands in for upstream's TEST-23-UNIT-FILE-openfile-child.sh (written for this tier, not
# copied): usage COUNT FDNAMES TEXT...; checks LISTEN_FDS=COUNT, LISTEN_FDNAMES=FDNAMES and that
# fd 3, 4, ... each yield the next TEXT as their first line.
set -eu
[ "${LISTEN_FDS:-}" = "$1" ] || { echo "LISTEN_FDS=${LISTEN_FDS:-} (want $1)"; exit 1; }
[ "${LISTEN_FDNAMES:-}" = "$2" ] || { echo "LISTEN_FDNAMES=${LISTEN_FDNAMES:-} (want $2)"; exit 1; }
shift 2
fd=3
for want in "$@"; do
    read -r got <&"$fd" || true
    [ "$got" = "$want" ] || { echo "fd $fd: read '$got' (want '$want')"; exit 1; }
    fd=$((fd + 1))
done
