# Environment for building Parla (sourced by the scripts; `source scripts/env.sh` in your shell to
# build by hand). Steps in setup.d/ that build native dependencies drop a fragment in env.d/
# saying where cargo finds them.
for _f in "$(dirname "${BASH_SOURCE[0]}")"/env.d/*.sh; do
  # shellcheck disable=SC1090
  [ -e "$_f" ] && source "$_f"
done
unset _f
