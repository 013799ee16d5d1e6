# Sourced by the scripts: makes sure the build's host tools are present, installing them
# with apt on a Debian or Ubuntu machine when run as root, else saying what is missing.

ensure_prerequisites() {
    local missing=()
    command -v cargo >/dev/null || { echo "cargo is not installed: install Rust (rustup) first" >&2; exit 1; }
    if [[ -z "${ASTERISK_BIN:-}" ]] && ! command -v debootstrap >/dev/null; then
        missing+=(debootstrap)
    fi
    # bindgen loads libclang at build time.
    if ! ldconfig -p 2>/dev/null | grep -q 'libclang\(-[0-9.]*\)\?\.so' && [[ -z "${LIBCLANG_PATH:-}" ]]; then
        missing+=(libclang-dev)
    fi
    # The shared settings store's tests run private PostgreSQL servers (tests/src/postgres.rs).
    if [[ -z "${TWINNING_PG_BIN:-}" ]] && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
        missing+=(postgresql)
    fi
    # twinctl serve's TLS test makes a certificate and asks over HTTPS (tests/tests/console.rs).
    command -v openssl >/dev/null || missing+=(openssl)
    command -v curl >/dev/null || missing+=(curl)
    # The web pages' tests drive Debian's chromium over WebDriver (tests/tests/web.rs).
    if ! [[ -x /usr/bin/chromium ]]; then
        missing+=(chromium)
    fi
    if ! [[ -x /usr/bin/chromedriver ]]; then
        missing+=(chromium-driver)
    fi
    ((${#missing[@]} == 0)) && return 0
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        echo "installing ${missing[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
    else
        echo "missing: ${missing[*]}; install them (Debian/Ubuntu: apt-get install ${missing[*]}) and run this again" >&2
        exit 1
    fi
}
