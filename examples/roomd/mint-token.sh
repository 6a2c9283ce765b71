#!/bin/sh
# Mints a token for roomd --auth-secret (docs/roomd.md, "Identity and
# authorization"): base64url(claims) "." base64url(HMAC-SHA256(secret,
# base64url(claims))), unpadded. Needs openssl and coreutils' basenc.
#
#   ROOMD_AUTH_SECRET=s3cret sh mint-token.sh USERID NAME ROLE ROOMS [TTL]
#
# ROOMS is comma-separated ("pr:1,pr:2", "math", or "*" for every room),
# NAME or ROLE may be "" to leave them out, TTL is in seconds (3600). The
# arguments go into JSON as they are: no quotes or backslashes in them.
set -eu
if [ $# -lt 4 ] || [ $# -gt 5 ] || [ -z "${ROOMD_AUTH_SECRET:-}" ]; then
    echo "usage: ROOMD_AUTH_SECRET=SECRET $0 USERID NAME ROLE ROOMS [TTL]" >&2
    exit 2
fi
case "$1$2$3$4" in *[\"\\]*) echo "$0: no quotes or backslashes, please" >&2; exit 2 ;; esac
exp=$(($(date +%s) + ${5:-3600}))
rooms=$(printf '%s' "$4" | sed 's/[^,][^,]*/"&"/g')
claims="{\"userId\":\"$1\""
[ -n "$2" ] && claims="$claims,\"name\":\"$2\""
[ -n "$3" ] && claims="$claims,\"role\":\"$3\""
claims="$claims,\"exp\":$exp,\"rooms\":[$rooms]}"
b64url() { basenc --base64url -w0 | tr -d '='; }
payload=$(printf '%s' "$claims" | b64url)
mac=$(printf '%s' "$payload" | openssl dgst -sha256 -mac HMAC -macopt "key:$ROOMD_AUTH_SECRET" -binary | b64url)
printf '%s.%s\n' "$payload" "$mac"
