#!/bin/sh
# Installs the built appliance into DESTDIR (default /): the programs, the systemd unit, the SSH
# operator access (smctl-ssh as ForceCommand for group smbox-admin) and the docs. Does not start
# anything and never overwrites /etc/smbox/smbox.yaml.
# Usage: image/install.sh build/rel [DESTDIR]
set -eu
bdir=${1:?usage: image/install.sh build/<variant> [DESTDIR]}
dest=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
install -d "$dest/usr/local/sbin" "$dest/usr/local/bin" "$dest/usr/lib/smbox" "$dest/etc/smbox" \
    "$dest/lib/systemd/system" "$dest/etc/ssh/sshd_config.d" "$dest/usr/share/doc/smbox"
install -m 0755 "$bdir/bin/smboxd" "$dest/usr/local/sbin/smboxd"
install -m 0755 "$bdir/bin/smctl" "$dest/usr/local/bin/smctl"
install -m 0755 "$here/smctl-ssh" "$dest/usr/lib/smbox/smctl-ssh"
install -m 0644 "$here/systemd/smboxd.service" "$dest/lib/systemd/system/smboxd.service"
install -m 0644 "$here/ssh/smbox-admin.conf" "$dest/etc/ssh/sshd_config.d/smbox-admin.conf"
[ -e "$dest/etc/smbox/smbox.yaml" ] || "$bdir/bin/smctl" config show >"$dest/etc/smbox/smbox.yaml"
for f in README.md SECURITY.md docs/*.md; do
    install -m 0644 "$here/../$f" "$dest/usr/share/doc/smbox/$(basename "$f")"
done
echo "installed into ${dest:-/}: create the smbox user and the smbox-admin group, then systemctl enable --now smboxd"
