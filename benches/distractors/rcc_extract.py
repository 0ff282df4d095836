import struct, sys, zlib, os
def extract(path, out):
    b = open(path,'rb').read()
    assert b[:4] == b'qres', path
    ver, tree, data, names = struct.unpack('>IIII', b[4:20])
    node = 22 if ver >= 2 else 14
    def name(off):
        n, = struct.unpack('>H', b[names+off:names+off+2])
        return b[names+off+6:names+off+6+2*n].decode('utf-16-be')
    res = []
    def walk(i, prefix):
        p = tree + i*node
        noff, flags = struct.unpack('>IH', b[p:p+6])
        nm = name(noff) if i else ''
        if flags & 2:
            cnt, first = struct.unpack('>II', b[p+6:p+14])
            for c in range(first, first+cnt):
                walk(c, prefix + nm + '/')
        else:
            doff, = struct.unpack('>I', b[p+10:p+14])
            q = data + doff
            sz, = struct.unpack('>I', b[q:q+4]); blob = b[q+4:q+4+sz]
            if flags & 1: blob = zlib.decompress(blob[4:])
            elif flags & 4: blob = None
            res.append((prefix+nm, blob))
    walk(0, '')
    return res
for f in sys.argv[2:]:
    for nm, blob in extract(f, sys.argv[1]):
        if blob is None or not nm.lower().endswith(('.webp','.jpg','.jpeg','.png')): continue
        dst = os.path.join(sys.argv[1], os.path.basename(f)[:-4] + nm)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        open(dst,'wb').write(blob)
