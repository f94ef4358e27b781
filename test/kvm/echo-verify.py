"""Watches a tap and checks every ICMP echo reply against its request.

    python3 echo-verify.py IFACE GUEST_IP PATTERN_HEX COUNT TIMEOUT_S

Prints "ready" once capturing, then one JSON line when COUNT replies were
seen (or TIMEOUT_S passed, or stdin closed): requests and replies seen,
replies whose ICMP payload equals their request's byte for byte, and the
corrupt ones (payload differs, the ping pattern is broken, or a checksum is
wrong). `ping -f` reports loss but does not compare reply data, so the flood
test uses this for the data.
"""

import json
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SO_RCVBUFFORCE = 33
PACKET_OUTGOING = 4
# The ping payload starts with a struct timeval (16 bytes on 64-bit Linux);
# `-p` fills what follows, the pattern aligned to the start of the payload.
TIMESTAMP_LEN = 16


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def verify(captured: list[tuple[int, bytes]], guest: bytes, pattern: bytes) -> dict:
    requests: dict[tuple[int, int], bytes] = {}
    stats: dict = {"requests": 0, "replies": 0, "intact": 0, "corrupt": 0, "unmatched": 0}
    examples: list[str] = []
    for pkttype, frame in captured:
        if len(frame) < 34 or frame[12:14] != b"\x08\x00":
            continue
        ihl = (frame[14] & 0xF) * 4
        ip = frame[14 : 14 + ihl]
        total = struct.unpack("!H", ip[2:4])[0]
        if ip[9] != 1:
            continue
        icmp = frame[14 + ihl : 14 + total]
        if len(icmp) < 8:
            continue
        key = struct.unpack("!HH", icmp[4:8])
        payload = icmp[8:]
        if pkttype == PACKET_OUTGOING and icmp[0] == 8 and ip[16:20] == guest:
            stats["requests"] += 1
            requests[key] = payload
        elif pkttype != PACKET_OUTGOING and icmp[0] == 0 and ip[12:16] == guest:
            stats["replies"] += 1
            sent = requests.pop(key, None)
            filled = payload[TIMESTAMP_LEN:]
            expected = bytes(pattern[(TIMESTAMP_LEN + i) % len(pattern)] for i in range(len(filled)))
            if sent is None:
                stats["unmatched"] += 1
            elif (
                payload == sent
                and filled == expected
                and checksum(icmp) == 0xFFFF
                and checksum(ip) == 0xFFFF
            ):
                stats["intact"] += 1
            else:
                stats["corrupt"] += 1
                if len(examples) < 3:
                    examples.append(f"seq {key[1]}: sent {sent.hex()} got {payload.hex()}")
    stats["examples"] = examples
    return stats


def main() -> None:
    iface, guest_ip, pattern_hex, count, timeout = sys.argv[1:6]
    guest = socket.inet_aton(guest_ip)
    pattern = bytes.fromhex(pattern_hex)
    want = int(count)
    deadline = time.monotonic() + float(timeout)

    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    # Root may go past rmem_max: a flood must not overrun the capture.
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 1 << 26)
    sock.bind((iface, 0))
    sock.settimeout(0.5)
    print("ready", flush=True)

    # Capture only: checking every frame as it comes would slow an emulated
    # machine's flood down; the checks run once the replies are in.
    captured: list[tuple[int, bytes]] = []
    replies = 0
    while replies < want and time.monotonic() < deadline:
        try:
            frame, addr = sock.recvfrom(65536)
        except socket.timeout:
            if select.select([sys.stdin], [], [], 0)[0] and sys.stdin.readline() == "":
                break
            continue
        captured.append((addr[2], frame))
        # An echo reply from the guest (IPv4, ICMP, type 0, no IP options).
        if frame[12:14] == b"\x08\x00" and frame[14] == 0x45 and frame[23] == 1 and frame[34] == 0 and frame[26:30] == guest:
            replies += 1
    print(json.dumps(verify(captured, guest, pattern)), flush=True)


main()
