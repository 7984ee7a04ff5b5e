#!/usr/bin/python3
"""Print memcached's `stats` as 'name value' lines (ground truth for tests)."""
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=5)
s.sendall(b"stats\r\n")
buf = b""
while not buf.endswith(b"END\r\n"):
    chunk = s.recv(65536)
    if not chunk:
        sys.exit("connection closed before END")
    buf += chunk
s.sendall(b"quit\r\n")
s.close()
for line in buf.decode().split("\r\n"):
    if line.startswith("STAT "):
        _, name, value = line.split(" ", 2)
        print(name, value)
