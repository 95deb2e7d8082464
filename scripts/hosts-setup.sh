#!/usr/bin/env bash
# Installs what the several-hosts tests (tests/hosts.rs) need: `ip` (iproute2)
# for network namespaces, veth pairs and a bridge, and `nft` (nftables) to cut
# a host off. Both from Debian through apt, only when missing. Idempotent.
# The tests themselves need root; without it they fail, saying so, unless
# HYPERSWEEP_SKIP_NETNS=1 is set.
set -euo pipefail

missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "hosts-setup: ${missing[*]} missing and not root: install them, or set HYPERSWEEP_SKIP_NETNS=1" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "hosts-setup: ${missing[*]} missing and no apt-get here: install them by hand" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# The package lists may be missing (a fresh image) or stale: one update, then
# install; a failed update still tries with what is there.
apt-get update -qq >/dev/null || true
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
command -v ip >/dev/null && command -v nft >/dev/null
echo "hosts-setup: installed ${missing[*]}"
