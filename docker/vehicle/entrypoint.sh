#!/bin/bash
# Source ROS 2 Humble (built for /opt/venv's Python 3.10), then run the command (default:
# `l4 ros launch/vehicle.yaml ...`, the Dockerfile's CMD). exec: signals reach l4 directly,
# so `docker stop` (SIGTERM) ends the run cleanly with its run directory written.
set -e
# shellcheck disable=SC1090
source "/opt/ros/${ROS_DISTRO:-humble}/setup.bash"
# shellcheck disable=SC1091
[ -f /opt/l4stack_ws/setup.bash ] && source /opt/l4stack_ws/setup.bash
if [ -d /var/log/l4stack/run ]; then  # keep the last run for `l4 report`
    mv /var/log/l4stack/run "/var/log/l4stack/run-$(date -r /var/log/l4stack/run +%Y%m%d-%H%M%S)"
fi
exec "$@"
