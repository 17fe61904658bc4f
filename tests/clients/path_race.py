"""Opens a FIFO through a buffer and rewrites the buffer while the open is
blocked inside the kernel (after path resolution): the process the recorder
must not be fooled by. argv[1]: the FIFO path to create."""
import ctypes
import os
import sys
import threading
import time

fifo = sys.argv[1]
os.mkfifo(fifo)
libc = ctypes.CDLL(None, use_errno=True)
buf = ctypes.create_string_buffer(4096)
buf.value = fifo.encode()
opened = {}


def opener():
    opened["tid"] = threading.get_native_id()
    opened["fd"] = libc.open(buf, os.O_RDONLY)  # blocks until a writer opens


t = threading.Thread(target=opener)
t.start()
# wait until the thread sits in openat(2) (syscall 257 on x86-64, 56 on arm64)
deadline = time.time() + 10
while time.time() < deadline:
    tid = opened.get("tid")
    if tid:
        with open(f"/proc/self/task/{tid}/syscall") as f:
            nr = f.read().split()[0]
        if nr in ("257", "56"):
            break
    time.sleep(0.01)
else:
    sys.exit("the opener never blocked in openat")
time.sleep(0.1)
decoy = b"/etc/hostname-decoy"
ctypes.memmove(buf, decoy + b"\0", len(decoy) + 1)
w = os.open(fifo, os.O_WRONLY)
t.join()
assert opened["fd"] >= 0, ctypes.get_errno()
os.close(w)
os.close(opened["fd"])
print("raced open returned", opened["fd"])
