#!/usr/bin/python3
"""A misbehaving memcached for the replay failure tests.

Usage: fakeserver.py HOST PORT MODE
  errors  answer every text request with an error: SERVER_ERROR to storage
          commands (after reading their data block), ERROR to everything
          else
  silent  accept connections and read everything, never answer
Prints "listening" once it accepts connections; runs until killed.
"""
import socket
import sys
import threading

STORAGE = {b"set", b"add", b"replace", b"append", b"prepend", b"cas"}


def serve_errors(conn):
    buf = b""
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            return
        buf += chunk
        out = []
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
                out.append(b"SERVER_ERROR out of memory storing object\r\n")
            else:
                buf = buf[eol + 2:]
                out.append(b"ERROR\r\n")
        if out:
            conn.sendall(b"".join(out))


def serve_silent(conn):
    while conn.recv(65536):
        pass


def main():
    host, port, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    serve = {"errors": serve_errors, "silent": serve_silent}[mode]
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
