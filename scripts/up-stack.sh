# Sourced by interop/ and browser/: builds the binary and runs `portcullis up` on free loopback
# ports in a temporary data directory, stopped and removed when the script exits.
# Before `start_up`: optional setup with "$BIN" admin --data-dir "$WORK/data" ...
# After it: AUTH, AUTH_ADMIN and GATEWAY hold the ports, and they answer.

cargo build -q -p portcullis
BIN=target/debug/portcullis
WORK=$(mktemp -d)
UP_PID=
cleanup_up() { [[ -n $UP_PID ]] && kill "$UP_PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$WORK"; }
# Stops the stack and forgets its data, so `start_up` can start a fresh one.
stop_up() {
    [[ -n $UP_PID ]] && kill "$UP_PID" 2>/dev/null
    wait "$UP_PID" 2>/dev/null || true
    UP_PID=
    rm -rf "$WORK/data"
}
trap cleanup_up EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_up() {
    AUTH=$(free_port); AUTH_ADMIN=$(free_port); GATEWAY=$(free_port); WEB_APP=$(free_port)
    # UP_ISSUER_HOST=localhost: the issuer on a domain name (passkeys need one).
    "$BIN" up ${UP_ISSUER_HOST:+--issuer-host "$UP_ISSUER_HOST"} --data-dir "$WORK/data" --auth-port "$AUTH" --auth-admin-port "$AUTH_ADMIN" \
        --gateway-port "$GATEWAY" \
        --users-port "$(free_port)" --products-port "$(free_port)" --mcp-port "$(free_port)" \
        --web-app-port "$WEB_APP" --corp-sso-port "$(free_port)" \
        > "$WORK/up.log" 2>&1 &
    UP_PID=$!
    for port in "$AUTH" "$GATEWAY"; do
        for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
    done
    curl -sf "http://127.0.0.1:$AUTH/readyz" >/dev/null || { cat "$WORK/up.log" >&2; return 1; }
}
