# apt_install [--no-install-recommends] WHO PACKAGE...: installs the Debian
# packages given (those the caller found missing), or says which and how
# when it cannot. Sourced by the set-up scripts, so each states only what
# it needs. Returns non-zero on failure.
apt_install() {
  local options=()
  [ "$1" != --no-install-recommends ] || { options+=("$1"); shift; }
  local who=$1
  shift
  [ $# -gt 0 ] || return 0
  echo "$who: installing $*" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "$who: need root to install $*: run as root, or: sudo apt-get install $*" >&2
    return 1
  fi
  apt-get update -qq
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${options[@]+"${options[@]}"} "$@" >/dev/null; then
    echo "$who: apt-get install $* failed: check the apt sources (Debian 12 main) and the network" >&2
    return 1
  fi
}
