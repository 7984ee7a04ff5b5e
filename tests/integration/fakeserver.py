#!/usr/bin/python3
"""A misbehaving memcached for the replay failure tests.

Usage: fakeserver.py HOST PORT MODE
  errors  answer every text request with an error: SERVER_ERROR to storage
          commands (after reading their data block), ERROR to everything
          else
  silent  accept connections and read everything, never answer
  garbage answer every request with bytes that are no memcache reply
  midclose
          answer the first request of a connection with half a reply (a
          VALUE header and part of its data), then close the connection
  slow    answer correctly (END to gets, STORED to sets, ...) but 2 ms after
          each request: a backlog builds up behind a 1 ms schedule
Prints "listening" once it accepts connections; runs until killed.
"""
import socket
import sys
import threading
import time

STORAGE = {b"set", b"add", b"replace", b"append", b"prepend", b"cas"}


def requests(conn):
    """Yield the command word of every text request (storage data consumed)."""
    buf = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return
        buf += chunk
        while True:
            eol = buf.find(b"\r\n")
            if eol < 0:
                break
            words = buf[:eol].split()
            if words and words[0] in STORAGE:
                need = eol + 2 + int(words[4]) + 2
                if len(buf) < need:
                    break
                buf = buf[need:]
            else:
                buf = buf[eol + 2:]
            yield words[0] if words else b""


def serve_errors(conn):
    for cmd in requests(conn):
        conn.sendall(b"SERVER_ERROR out of memory storing object\r\n" if cmd in STORAGE
                     else b"ERROR\r\n")


def serve_garbage(conn):
    for _ in requests(conn):
        conn.sendall(b"\x00\xff\x13 this is not memcache \x80\x81 zz\r\nQQQQ")


def serve_midclose(conn):
    for _ in requests(conn):
        conn.sendall(b"VALUE k 0 100\r\n0123456789")
        return


def serve_slow(conn):
    for cmd in requests(conn):
        time.sleep(0.002)
        conn.sendall(b"STORED\r\n" if cmd in STORAGE else b"END\r\n")


def serve_silent(conn):
    while conn.recv(65536):
        pass


def main():
    host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    serve = {"errors": serve_errors, "silent": serve_silent, "garbage": serve_garbage,
             "midclose": serve_midclose, "slow": serve_slow}[mode]
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(128)
    print("listening", flush=True)

    def run(c):
        try:
            serve(c)
        except OSError:
            pass
        c.close()

    while True:
        c, _ = ls.accept()
        threading.Thread(target=run, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
