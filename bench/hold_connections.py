"""Opens N keep-alive connections to a local HTTP/1.1 server, makes one request on each (read to
the end of its body), prints "ready", and holds them all open until stdin closes.

Usage: python3 bench/hold_connections.py PORT N PATH
"""
import socket
import sys


def read_response(connection):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            raise SystemExit("connection closed before the response head")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            raise SystemExit("connection closed before the end of the body")
        body += chunk


def main():
    port, count, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    held = []
    for _ in range(count):
        connection = socket.create_connection(("127.0.0.1", port))
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        read_response(connection)
        held.append(connection)
    print("ready", flush=True)
    sys.stdin.read()
    for connection in held:
        connection.close()


main()
