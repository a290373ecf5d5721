#!/bin/sh
# The guest's command agent on the virtio-serial port named org.softrnic.agent. One command per
# host connection:
#   guest -> host  READY
#   host  -> guest RUN <id> <timeout-seconds> <base64 of a shell script>
#   guest -> host  BEGIN <id> / base64 stdout / STDERR / base64 stderr / END <id> <exit status>
# A write to a virtio port blocks until the host end is open, so READY goes out only when a host
# client is connected, and data the host sends after reading it cannot be discarded by a closed
# port. A read returns end-of-file when the host disconnects: then the loop starts over.
port=
for p in /sys/class/virtio-ports/*; do
  [ "$(cat "$p/name" 2>/dev/null)" = org.softrnic.agent ] && port=/dev/${p##*/}
done
[ -n "$port" ] || { echo "softrnic-agent: no virtio port org.softrnic.agent"; exit 1; }
echo "softrnic-agent: listening on $port"
work=/run/agent
mkdir -p "$work"
while :; do
  exec 3<>"$port"
  printf 'READY\n' >&3
  if IFS=' ' read -r verb id limit script <&3; then
    if [ "$verb" = RUN ]; then
      printf '%s' "$script" | base64 -d >"$work/cmd" 2>/dev/null
      # The command's own limit, so a hung tool cannot wedge the agent for later commands.
      # fd 3 stays here: a background job holding the port would keep it busy for the next open.
      timeout -k 3 "$limit" sh "$work/cmd" >"$work/out" 2>"$work/err" </dev/null 3>&-
      rc=$?
      {
        printf 'BEGIN %s\n' "$id"
        base64 "$work/out"
        printf 'STDERR\n'
        base64 "$work/err"
        printf 'END %s %d\n' "$id" "$rc"
      } >&3
    fi
  fi
  exec 3>&-
done
