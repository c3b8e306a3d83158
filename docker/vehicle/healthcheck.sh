#!/bin/sh
# Healthy when the running graph's trace was written in the last 10 seconds.
trace=/var/log/l4stack/run/trace.l4t
[ -f "$trace" ] || exit 1
[ $(( $(date +%s) - $(stat -c %Y "$trace") )) -le 10 ]
