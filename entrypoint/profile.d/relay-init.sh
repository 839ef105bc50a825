# shellcheck shell=sh
# Gives interactive shells the proxy setup of relay-init's command.
#
# `docker exec -it CONTAINER bash` starts a shell that is not a child of
# relay-init, so it does not inherit HTTPS_PROXY and the CA variables. This
# snippet sources relay-init's env file instead. It is installed as
# /etc/profile.d/relay-init.sh (login shells), sourced from /etc/bash.bashrc
# (interactive bash) and named by ENV (interactive dash/sh).
#
# Silent when there is no env file (relay-init not running, or it failed open
# and the file holds only comments), and safe under `set -u` and `set -e`: it
# runs inside the caller's shell, so it must not fail, print, or leave
# variables behind.
relay_init_env_file_=${RELAY_INIT_ENV_FILE:-/run/relay-init/proxy.env}
if [ -f "$relay_init_env_file_" ] && [ -r "$relay_init_env_file_" ]; then
    # shellcheck source=/dev/null
    . "$relay_init_env_file_"
fi
unset relay_init_env_file_
