# Sourced by the packaging scripts: what a Debian package of an ELF file needs.

# The Depends entries for the shared libraries `elf` links (their versions from the symbol
# versions it uses, as the symbols files Debian's dpkg-shlibdeps reads would give), comma
# separated. Dies naming a library it does not know the package of.
shlib_depends() {
    local elf="$1" depends="" lib dep
    max_version() { objdump -T "$elf" | grep -o "(${1}_[0-9.]*)" | tr -d '()' | sed "s/^${1}_//" | sort -V | tail -n1; }
    for lib in $(readelf -d "$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        case "$lib" in
            libc.so.6 | ld-linux-*.so.* | libm.so.6) dep="libc6 (>= $(max_version GLIBC))" ;;
            libgcc_s.so.1) dep="libgcc-s1 (>= $(max_version GCC | sed 's/\.0$//'))" ;;
            *) echo "package: error: $(basename "$elf") needs $lib, which this script does not know the package of" >&2; exit 1 ;;
        esac
        [[ ", $depends, " == *", $dep, "* ]] || depends="${depends:+$depends, }$dep"
    done
    echo "$depends"
}
