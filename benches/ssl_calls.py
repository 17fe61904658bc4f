# Used by benches/ssl_calls.sh.
# Per-call cost of SSL_read_ex/SSL_write_ex without sockets: two SSLObjects over MemoryBIOs.
import ssl, sys, time
cert, key = sys.argv[1], sys.argv[2]
n = int(sys.argv[3]) if len(sys.argv) > 3 else 100000
sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); sctx.load_cert_chain(cert, key)
cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); cctx.check_hostname = False; cctx.verify_mode = ssl.CERT_NONE
c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
c = cctx.wrap_bio(c_in, c_out, server_hostname="localhost"); s = sctx.wrap_bio(s_in, s_out, server_side=True)
def pump():
    moved = True
    while moved:
        moved = False
        d = c_out.read()
        if d: s_in.write(d); moved = True
        d = s_out.read()
        if d: c_in.write(d); moved = True
for _ in range(50):
    for o in (c, s):
        try: o.do_handshake()
        except ssl.SSLWantReadError: pass
    pump()
msg = b"x" * 100
t = time.perf_counter()
for _ in range(n):
    c.write(msg); s_in.write(c_out.read()); s.read(4096)
dt = time.perf_counter() - t
print(f"{dt / n / 2 * 1e9:.0f} ns per SSL call (write+read pairs: {n})")
