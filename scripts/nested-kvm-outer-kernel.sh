# The outer (L1) kernel of scripts/nested-kvm and scripts/nested-kvm-arm64:
# Debian's cloud kernel, downloaded with apt-get download and unpacked into a
# cache (never installed on the host). Sourced; the caller defines fail and
# unavailable (each prints one line and exits).

# What `--net bridge` needs in L1, in load order (each after what it depends
# on; L1 has no modprobe): L1's init loads them from the list in
# /nested/network.
network_modules=(llc stp bridge veth tun tap vhost_iotlb vhost vhost_net libcrc32c nfnetlink nf_tables nf_defrag_ipv4 nf_defrag_ipv6
    nf_conntrack nf_nat nf_conntrack_netlink nft_chain_nat nft_masq nft_nat nft_fib nft_fib_ipv4 nft_fib_ipv6 nft_fib_inet nft_ct)

# Drops the signature that Debian appends to a module: checking it takes the
# emulated L1 kernel about half a second for kvm.ko. The module's last 40 bytes
# are struct module_signature (sig_len, big-endian, in its last 4 bytes) and
# the magic string "~Module signature appended~\n".
strip_module_signature() {
    local module=$1 magic='~Module signature appended~' size signature_size
    [ "$(tail -c 28 "$module" | head -c 27)" = "$magic" ] || return 0
    size=$(stat -c %s "$module")
    signature_size=$(tail -c 32 "$module" | head -c 4 | od -An -tu1 | awk '{ print (($1 * 256 + $2) * 256 + $3) * 256 + $4 }')
    truncate -s $((size - 28 - 12 - signature_size)) "$module"
}

# outer_kernel_cached CACHE_DIR MODULE...: whether the cache is complete and
# holds every module (a cache made before a module joined the list is made
# again).
outer_kernel_cached() {
    local cache_dir=$1 name
    shift
    [ -f "$cache_dir/ready" ] || return 1
    for name in "$@"; do
        [ -f "$cache_dir/modules/$name.ko" ] || return 1
    done
}

# The Debian package that the metapackage (linux-image-cloud-amd64, or
# linux-image-cloud-arm64:arm64) depends on, with one `apt-get update` where
# the package lists do not know it yet; empty if none.
outer_kernel_package() {
    local metapackage=$1 version
    version=$(apt-cache depends "$metapackage" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }') || true
    if [ -z "$version" ]; then
        apt-get update -qq >/dev/null 2>&1 || true
        version=$(apt-cache depends "$metapackage" 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }') || true
    fi
    echo "$version"
}

# fetch_outer_kernel CACHE_DIR PACKAGE MODULE...: downloads PACKAGE and keeps
# its vmlinuz (CACHE_DIR/vmlinuz) and the modules, decompressed and unsigned
# (CACHE_DIR/modules/NAME.ko). CACHE_DIR/ready, written last, names the
# package: a cache without it is incomplete and is made again.
fetch_outer_kernel() {
    local cache_dir=$1 package=$2 unpack module found
    shift 2
    # A run that was killed while unpacking leaves its directory behind.
    rm -rf "$cache_dir"/unpack.*
    unpack=$(mktemp -d "$cache_dir/unpack.XXXXXX")
    # apt-get download runs as the _apt user where it can: it must write here.
    chmod 755 "$unpack"
    if ! (cd "$unpack" && apt-get download -q "$package" >/dev/null 2>&1); then
        apt-get update -qq >/dev/null 2>&1 || true
        (cd "$unpack" && apt-get download -q "$package" >/dev/null 2>&1) \
            || { rm -rf "$unpack"; unavailable "apt-get download $package failed"; }
    fi
    dpkg-deb -x "$unpack"/*.deb "$unpack/tree" || { rm -rf "$unpack"; fail "dpkg-deb -x of $package failed"; }
    mkdir -p "$unpack/modules"
    for module in "$@"; do
        found=$(find "$unpack/tree/lib/modules" "$unpack/tree/usr/lib/modules" -name "$module.ko*" 2>/dev/null | head -n 1) || true
        [ -n "$found" ] || { rm -rf "$unpack"; fail "$package has no module $module"; }
        case "$found" in
            *.ko.xz) xz -dc "$found" >"$unpack/modules/$module.ko" ;;
            *.ko.zst) zstd -qdc "$found" >"$unpack/modules/$module.ko" ;;
            *.ko.gz) gzip -dc "$found" >"$unpack/modules/$module.ko" ;;
            *) cp "$found" "$unpack/modules/$module.ko" ;;
        esac
        strip_module_signature "$unpack/modules/$module.ko"
    done
    rm -rf "$cache_dir/modules" "$cache_dir/ready"
    mv "$unpack"/tree/boot/vmlinuz-* "$cache_dir/vmlinuz"
    mv "$unpack/modules" "$cache_dir/modules"
    rm -rf "$unpack"
    echo "$package, unsigned modules" >"$cache_dir/ready"
}
