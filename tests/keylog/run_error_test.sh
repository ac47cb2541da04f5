#!/usr/bin/env bash
# The key log cannot or must not be written: the program runs on unaffected (its keypairs are
# still checked), the logger says so once on stderr, and never prints a key.
#   run_error_test.sh LIB STRESS WORKDIR
set -uo pipefail
lib=$1 stress=$2 work=$3
rm -rf "$work" && mkdir -p "$work" || exit 1
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# run_case NAME EXPECTED_MESSAGES PATTERN [env arguments...]: runs the stress program (threads
# and a forked child), as the user in run_as if set, and checks its exit status and the
# logger's stderr lines.
run_as=()
run_case() {
  local name=$1 expected=$2 pattern=$3
  shift 3
  local err="$work/$name.stderr"
  env "$@" LD_PRELOAD="$lib" "${run_as[@]}" timeout 60 "$stress" --threads 4 --keys 25 --forks 1 >/dev/null 2>"$err"
  local status=$?
  local messages
  messages=$(grep -c '^zmtp-keylog:' "$err")
  [ $status -eq 0 ] || fail "$name: the program exited with $status"
  [ "$messages" -eq "$expected" ] || fail "$name: $messages logger messages, expected $expected"
  if [ -n "$pattern" ] && ! grep -q -- "$pattern" "$err"; then fail "$name: no message matching '$pattern'"; fi
  if grep -Eq '[0-9a-fA-F]{64}' "$err"; then fail "$name: a key was printed"; fi
  echo "$name: exit $status, $messages message(s)"
  sed 's/^/    /' "$err"
}

run_case missing-directory 1 "$work/missing/keys.log: No such file or directory" \
  ZMTP_KEYLOG_FILE="$work/missing/keys.log"
run_case directory 1 "Is a directory" ZMTP_KEYLOG_FILE="$work"

: >"$work/target.log"
ln -s "$work/target.log" "$work/link.log"
run_case symlink 1 "refusing to follow the symbolic link" ZMTP_KEYLOG_FILE="$work/link.log"
[ -s "$work/target.log" ] && fail "symlink: the link's target was written"

ln -s "$work/not-created.log" "$work/dangling.log"
run_case dangling-symlink 1 "refusing to follow the symbolic link" ZMTP_KEYLOG_FILE="$work/dangling.log"
[ -e "$work/not-created.log" ] && fail "dangling-symlink: the link's target was created"

mkfifo "$work/fifo"
run_case fifo 1 "is not a regular file" ZMTP_KEYLOG_FILE="$work/fifo"

run_case unset 0 "" -u ZMTP_KEYLOG_FILE
run_case empty 0 "" ZMTP_KEYLOG_FILE=

: >"$work/shared.log" && chmod 0644 "$work/shared.log"
run_case readable-by-others 1 "can be read by other users" ZMTP_KEYLOG_FILE="$work/shared.log"
[ "$(grep -c EPHEMERAL_SECRET "$work/shared.log")" -eq 201 ] || fail "readable-by-others: keys not logged"

# Permission denied needs an unprivileged user when the tests run as root.
: >"$work/denied.log" && chmod 0600 "$work/denied.log"
if [ "$(id -u)" -eq 0 ]; then
  chmod 0755 "$work"
  run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
  run_case permission-denied 1 "Permission denied" ZMTP_KEYLOG_FILE="$work/denied.log"
  run_as=()
else
  chmod 0400 "$work/denied.log"
  run_case permission-denied 1 "Permission denied" ZMTP_KEYLOG_FILE="$work/denied.log"
fi

[ $failures -eq 0 ] && echo "all error cases passed" || echo "$failures failure(s)"
[ $failures -eq 0 ]
