#!/bin/bash
# Build the NetSenX box: a Debian 12 (bookworm) root filesystem with the project in /opt/netsenx/venv,
# its services, firewall and sysctls, packed as a reproducible tarball.
#
# Reproducible: packages come from a fixed snapshot.debian.org date, the project and its Python
# dependencies from a wheelhouse you built (installed offline, no index), bytecode is hash-checked, and
# the tarball has sorted names, clamped times and numeric owners. See images/README.md.
set -euo pipefail

images_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly images_dir
readonly stages=(bootstrap project users files enable finalize)

usage() {
    cat <<'EOF'
usage: build-image.sh --wheelhouse DIR [options]

  --wheelhouse DIR        wheels of the project and every dependency, for CPython 3.11 on the target
                          architecture (`pip wheel . -w DIR`); installed with --no-index
  --rootfs DIR            where the root filesystem is built (default: build/netsenx-rootfs)
  --output FILE           the image tarball (default: build/netsenx-bookworm-ARCH.tar.gz)
  --arch ARCH             Debian architecture (default: amd64)
  --snapshot STAMP        snapshot.debian.org time, e.g. 20261101T000000Z (default: pinned below);
                          it also sets SOURCE_DATE_EPOCH
  --mirror-iface IFACE    a mirror (SPAN) port: no IP, a sensor on it (repeatable; default: eth1)
  --management-net CIDR   IPv4 network allowed to SSH in (default: none, SSH closed)
  --management-net6 CIDR  IPv6 network allowed to SSH in (default: none)
  --only STAGE            run one stage: bootstrap project users files enable finalize
  --dry-run               print every step instead of running it
  -h, --help              this help
EOF
}

fail() {
    echo "build-image: $*" >&2
    exit 2
}

# --- settings -------------------------------------------------------------------------------------

wheelhouse=""
rootfs="build/netsenx-rootfs"
output=""
arch="amd64"
snapshot="20261101T000000Z"
mirror_ifaces=()
management_net="192.0.2.0/24"     # documentation range: matches no real host, so SSH stays closed
management_net6="2001:db8::/32"
only=""
dry_run=false

parse_arguments() {
    while (($#)); do
        case $1 in
            --wheelhouse | --rootfs | --output | --arch | --snapshot | --mirror-iface | --management-net | \
                --management-net6 | --only)
                (($# >= 2)) || fail "$1 needs a value"
                set_option "$1" "$2"
                shift 2
                ;;
            --dry-run) dry_run=true && shift ;;
            -h | --help) usage && exit 0 ;;
            *) fail "unknown argument '$1' (see --help)" ;;
        esac
    done
    ((${#mirror_ifaces[@]})) || mirror_ifaces=(eth1)
    output=${output:-build/netsenx-bookworm-$arch.tar.gz}
}

set_option() {
    case $1 in
        --wheelhouse) wheelhouse=$2 ;;
        --rootfs) rootfs=$2 ;;
        --output) output=$2 ;;
        --arch) arch=$2 ;;
        --snapshot) snapshot=$2 ;;
        --mirror-iface) mirror_ifaces+=("$2") ;;
        --management-net) management_net=$2 ;;
        --management-net6) management_net6=$2 ;;
        --only) only=$2 ;;
    esac
}

# Every value below ends up in nft rules, sysctl keys, unit names or paths: reject anything unexpected.
validate_settings() {
    [[ $arch =~ ^[a-z0-9]+$ ]] || fail "--arch '$arch' is not a Debian architecture name"
    [[ $snapshot =~ ^[0-9]{8}T[0-9]{6}Z$ ]] || fail "--snapshot '$snapshot' is not like 20261101T000000Z"
    [[ $management_net =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$ ]] ||
        fail "--management-net '$management_net' is not an IPv4 CIDR like 10.0.0.0/24"
    [[ $management_net6 =~ ^[0-9a-fA-F:]+/[0-9]{1,3}$ ]] ||
        fail "--management-net6 '$management_net6' is not an IPv6 CIDR like fd00::/64"
    local iface
    for iface in "${mirror_ifaces[@]}"; do
        [[ $iface =~ ^[A-Za-z0-9_.-]{1,15}$ ]] || fail "--mirror-iface '$iface' is not an interface name"
    done
    if [[ -n $only ]] && ! printf '%s\n' "${stages[@]}" | grep -qx -- "$only"; then
        fail "--only '$only' is not a stage: ${stages[*]}"
    fi
}

source_date_epoch() {
    date -u -d "$(sed -E 's/^(....)(..)(..)T(..)(..)(..)Z$/\1-\2-\3 \4:\5:\6/' <<<"$snapshot")" +%s
}

# --- how steps run --------------------------------------------------------------------------------

run() {
    if $dry_run; then
        printf '+'
        printf ' %q' "$@"
        printf '\n'
    else
        "$@"
    fi
}

in_chroot() {
    run chroot "$rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
        SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" "$@"
}

# Write stdin to a file of the image (the content is shown in a dry run).
write_file() {
    local path=$rootfs$1 mode=$2
    if $dry_run; then
        echo "+ write $path (mode $mode):"
        sed 's/^/|   /'
    else
        install -D -m "$mode" /dev/stdin "$path"
    fi
}

# --- stages ---------------------------------------------------------------------------------------

stage_bootstrap() {
    local packages=(
        systemd-sysv systemd-resolved systemd-timesyncd udev dbus linux-image-"$arch"
        python3 python3-venv nftables iproute2 openssh-server ca-certificates
        libpcap0.8  # the sensor compiles capture filters with libpcap (sensor/capture/bpf.py)
    )
    run debootstrap --variant=minbase --arch="$arch" --include="$(IFS=, && echo "${packages[*]}")" \
        bookworm "$rootfs" "http://snapshot.debian.org/archive/debian/$snapshot/"
}

stage_project() {
    if ! $dry_run; then
        compgen -G "$wheelhouse/netsenx_appliance-*.whl" >/dev/null ||
            fail "--wheelhouse '$wheelhouse' holds no netsenx_appliance wheel (pip wheel . -w DIR)"
    fi
    run mkdir -p "$rootfs/var/tmp/wheelhouse"
    run cp -r "$wheelhouse/." "$rootfs/var/tmp/wheelhouse/"
    in_chroot python3 -m venv /opt/netsenx/venv
    in_chroot /opt/netsenx/venv/bin/pip install --no-index --find-links /var/tmp/wheelhouse --no-compile \
        --no-cache-dir netsenx-appliance
    # Hash-checked bytecode does not embed source mtimes, so two builds give the same .pyc files.
    in_chroot /opt/netsenx/venv/bin/python -m compileall -q --invalidation-mode checked-hash /opt/netsenx/venv
    run rm -rf "$rootfs/var/tmp/wheelhouse"
}

stage_users() {
    # The API and engine own the data; the sensor, which parses hostile traffic, owns only its spool.
    in_chroot useradd --system --no-create-home --home-dir /var/lib/netsenx --shell /usr/sbin/nologin netsenx
    in_chroot useradd --system --no-create-home --home-dir /var/lib/netsenx-sensor --shell /usr/sbin/nologin \
        netsenx-sensor
}

stage_files() {
    install_units
    install_scripts
    install_firewall
    install_sysctls
    install_network
    install_directories
}

install_units() {
    local unit
    for unit in "$images_dir"/systemd/*.service "$images_dir"/systemd/*.timer "$images_dir"/systemd/*.slice \
        "$images_dir"/systemd/*.path; do
        run install -D -m 0644 "$unit" "$rootfs/usr/lib/systemd/system/$(basename "$unit")"
    done
    run install -D -m 0644 "$images_dir/systemd/netsenx-.service.d/10-hardening.conf" \
        "$rootfs/usr/lib/systemd/system/netsenx-.service.d/10-hardening.conf"
    # OpenSSH host keys are removed from the image (finalize) so that no two boxes share them.
    write_file /usr/lib/systemd/system/ssh.service.d/10-netsenx-host-keys.conf 0644 <<'EOF'
[Service]
ExecStartPre=/usr/bin/ssh-keygen -A
EOF
}

install_scripts() {
    run install -D -m 0755 "$images_dir/backup/nightly-backup" "$rootfs/usr/lib/netsenx/nightly-backup"
    run install -D -m 0755 "$images_dir/firstboot/provision" "$rootfs/usr/lib/netsenx/provision"
    run install -D -m 0644 "$images_dir/README.md" "$rootfs/usr/share/doc/netsenx/README.md"
}

install_firewall() {
    local quoted_ifaces
    quoted_ifaces=$(printf '"%s", ' "${mirror_ifaces[@]}")
    sed -E \
        -e "s|^define management_networks_v4 = .*|define management_networks_v4 = { $management_net }|" \
        -e "s|^define management_networks_v6 = .*|define management_networks_v6 = { $management_net6 }|" \
        -e "s|^define mirror_interfaces = .*|define mirror_interfaces = { ${quoted_ifaces%, } }|" \
        "$images_dir/firewall/netsenx.nft" | write_file /etc/nftables.conf 0600
    # -c only checks the ruleset against the kernel's grammar; it never loads it on the build host.
    run nft -c -f "$rootfs/etc/nftables.conf"
}

install_sysctls() {
    write_file /etc/sysctl.d/90-netsenx.conf 0644 <<'EOF'
# NetSenX: a listener, not a router.
net.ipv4.ip_forward = 0
net.ipv6.conf.all.forwarding = 0
net.ipv4.conf.all.rp_filter = 1
net.ipv4.conf.default.rp_filter = 1
net.ipv4.conf.all.accept_redirects = 0
net.ipv4.conf.default.accept_redirects = 0
net.ipv6.conf.all.accept_redirects = 0
net.ipv4.conf.all.send_redirects = 0
net.ipv4.conf.all.accept_source_route = 0
net.ipv4.conf.all.log_martians = 0
net.ipv4.tcp_syncookies = 1
EOF
    # Slash-separated keys, so that an interface name with a dot (a VLAN) stays one path element.
    local iface
    for iface in "${mirror_ifaces[@]}"; do
        write_file "/etc/sysctl.d/91-netsenx-mirror-$iface.conf" 0644 <<EOF
# Mirror port $iface: answer no ARP, announce nothing, no IPv6 address, no router adverts.
net/ipv4/conf/$iface/arp_ignore = 8
net/ipv4/conf/$iface/arp_announce = 2
net/ipv4/conf/$iface/rp_filter = 1
net/ipv6/conf/$iface/disable_ipv6 = 1
net/ipv6/conf/$iface/accept_ra = 0
EOF
    done
}

install_network() {
    local iface
    for iface in "${mirror_ifaces[@]}"; do
        write_file "/etc/systemd/network/10-netsenx-mirror-$iface.network" 0644 <<EOF
# Mirror port: up and listening, without any address (networkd uses the first file that matches).
[Match]
Name=$iface

[Link]
ARP=no
Promiscuous=yes
RequiredForOnline=no

[Network]
DHCP=no
LinkLocalAddressing=no
IPv6AcceptRA=no
EOF
    done
    write_file /etc/systemd/network/90-netsenx-management.network 0644 <<'EOF'
# Every other Ethernet port: management, by DHCP (replace with a static address if you prefer).
[Match]
Type=ether

[Network]
DHCP=yes
EOF
}

install_directories() {
    # The provisioning file goes here before first boot.
    run install -d -m 0700 "$rootfs/etc/netsenx"
    # Created at boot by systemd-tmpfiles, by user name: the ids do not exist outside the image.
    write_file /usr/lib/tmpfiles.d/netsenx.conf 0644 <<'EOF'
d /etc/netsenx 0700 root root -
d /var/backups/netsenx 0700 netsenx netsenx -
EOF
}

stage_enable() {
    local units=(
        systemd-networkd.service systemd-resolved.service systemd-timesyncd.service nftables.service
        ssh.service netsenx-firstboot.service netsenx-api.service netsenx-engine.service netsenx-backup.timer
        netsenx-notify.service netsenx-egress.path
    )
    local iface
    for iface in "${mirror_ifaces[@]}"; do
        units+=("$(systemd-escape --template=netsenx-sensor@.service "$iface")")
    done
    run systemctl --root="$rootfs" enable "${units[@]}"
}

stage_finalize() {
    in_chroot apt-get clean
    run rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/log/*.log
    run rm -f "$rootfs"/etc/ssh/ssh_host_*
    # An empty machine-id: each box makes its own at first boot.
    run truncate -s 0 "$rootfs/etc/machine-id"
    run rm -f "$rootfs/var/lib/dbus/machine-id"
    echo netsenx | write_file /etc/hostname 0644
    # Updates come from the live archive; the snapshot only pins what the image was built from.
    write_file /etc/apt/sources.list 0644 <<'EOF'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://security.debian.org/debian-security bookworm-security main
EOF
    run mkdir -p "$(dirname "$output")"
    run tar --create --gzip --file "$output" --directory "$rootfs" --sort=name --numeric-owner \
        --mtime="@$SOURCE_DATE_EPOCH" --clamp-mtime --xattrs \
        --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime .
    run sha256sum "$output"
}

# --- main -----------------------------------------------------------------------------------------

check_build_host() {
    local needs=(nft systemctl systemd-escape tar)
    if [[ -z $only || $only == bootstrap ]]; then
        needs+=(debootstrap)
    fi
    # The files and enable stages only write into the root filesystem: any owner of that folder can run them.
    if [[ -z $only || $only =~ ^(bootstrap|project|users|finalize)$ ]]; then
        needs+=(chroot)
        ((EUID == 0)) || fail "run as root: debootstrap and chroot need it"
    fi
    local tool
    for tool in "${needs[@]}"; do
        command -v "$tool" >/dev/null || fail "$tool is missing on this build host (apt-get install $tool)"
    done
}

main() {
    parse_arguments "$@"
    validate_settings
    [[ -n $wheelhouse || $only =~ ^(bootstrap|users|files|enable|finalize)$ ]] ||
        fail "--wheelhouse DIR is required (see --help)"
    SOURCE_DATE_EPOCH=$(source_date_epoch)
    export SOURCE_DATE_EPOCH
    $dry_run || check_build_host

    local stage
    for stage in "${stages[@]}"; do
        [[ -z $only || $only == "$stage" ]] || continue
        echo "== $stage"
        "stage_$stage"
    done
}

main "$@"
