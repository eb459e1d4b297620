import mmap, os, sys
path, state = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_RDONLY); size = os.fstat(fd).st_size
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
if state == 'small':
    # As the page cache holds a file readied by advice (the build's writer
    # writes over pages readied this way).
    os.posix_fadvise(fd, 0, size, os.POSIX_FADV_WILLNEED)
    import time; time.sleep(1)
    b = bytearray(1 << 20)
    with open(path, 'rb', buffering=0) as f:
        while f.readinto(b): pass
else:
    m = mmap.mmap(fd, size, prot=mmap.PROT_READ)
    m.madvise(mmap.MADV_HUGEPAGE)
    s = 0
    for off in range(0, size, 4096): s += m[off]
print(state, 'ready')
