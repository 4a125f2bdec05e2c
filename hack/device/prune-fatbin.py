#!/usr/bin/env python3
"""Zero the GPU code for every SM architecture but one in a CUDA shared library's .nv_fatbin section.

Usage: prune-fatbin.py IN.so OUT.so [SM=90]

Why: onnxruntime-gpu's libonnxruntime_providers_cuda.so (272 MB) carries cubins for sm_75..sm_120. A device
run may carry at most 64 MiB; with the other architectures' payloads zeroed the library compresses (xz -6)
to about 50 MB. Entry headers stay, so offsets the CUDA runtime registers are unchanged; the driver only
loads the entry whose architecture matches the device. Layout of a fatbin (header magic 0xBA55ED50,
entries of kind/header size/payload size with the SM version at byte 28) as read from the file itself.
"""
import struct
import subprocess
import sys

src, dst = sys.argv[1], sys.argv[2]
keep = int(sys.argv[3]) if len(sys.argv) > 3 else 90
sections = subprocess.run(['readelf', '-S', '-W', src], capture_output=True, text=True, check=True).stdout
line = next(l for l in sections.splitlines() if ' .nv_fatbin ' in l)
fields = line.split(']', 1)[1].split()
off, size = int(fields[3], 16), int(fields[4], 16)
data = bytearray(open(src, 'rb').read())
pos, end, zeroed = off, off + size, 0
while pos < end:
    magic, _ver, hsz, fsz = struct.unpack_from('<IHHQ', data, pos)
    if magic != 0xBA55ED50:
        pos += 8  # fatbins are 8-byte aligned inside the section
        continue
    entry, stop = pos + hsz, pos + hsz + fsz
    while entry < stop:
        _kind, _unk, ehs, psz = struct.unpack_from('<HHIQ', data, entry)
        arch = struct.unpack_from('<I', data, entry + 28)[0]
        if arch != keep:
            data[entry + ehs:entry + ehs + psz] = bytes(psz)
            zeroed += psz
        entry += ehs + psz
    pos = stop
open(dst, 'wb').write(data)
print(f'kept sm_{keep}; zeroed {zeroed / 2**20:.0f} MiB of other architectures')
