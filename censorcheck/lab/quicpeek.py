"""What an on-path censor reads in a QUIC Initial: the server name of the ClientHello inside.

An Initial packet is encrypted, but with keys anyone can derive from its destination connection
ID (RFC 9001, section 5.2), so a middlebox can decrypt it and read the SNI, as deployed censors
do. This is the lab censor's half of that: it reads the first datagram of a connection and says
which name the client asked for, so the lab can drop the Initials that name a blocked host.
"""

from __future__ import annotations

from aioquic.buffer import Buffer  # type: ignore[attr-defined]  # re-exported, untyped so
from aioquic.quic.crypto import CryptoPair
from aioquic.quic.packet import QuicPacketType, pull_quic_header

from censorcheck.lab.tlspeek import hello_server_name

_PADDING, _PING, _ACK, _ACK_ECN, _CRYPTO = 0x00, 0x01, 0x02, 0x03, 0x06


def initial_server_name(datagram: bytes) -> str | None:
    """The SNI of the ClientHello in the Initial packet that starts ``datagram``, or None when it
    is not an Initial, cannot be decrypted, or its ClientHello does not start in it."""
    try:
        buf = Buffer(data=datagram)
        header = pull_quic_header(buf, host_cid_length=8)
        if header.packet_type != QuicPacketType.INITIAL or header.version is None:
            return None
        keys = CryptoPair()
        keys.setup_initial(header.destination_cid, is_client=False, version=header.version)
        _, payload, _ = keys.decrypt_packet(
            datagram[: header.packet_length], buf.tell(), expected_packet_number=0
        )
        return hello_server_name(_crypto_stream(payload))
    except ValueError:  # aioquic's read and decryption errors are ValueErrors
        return None


def _crypto_stream(payload: bytes) -> bytes:
    """The start of the CRYPTO stream carried by the frames of one decrypted Initial."""
    buf = Buffer(data=payload)
    pieces: dict[int, bytes] = {}
    while not buf.eof():
        kind = buf.pull_uint_var()
        if kind in (_PADDING, _PING):
            continue
        if kind in (_ACK, _ACK_ECN):
            buf.pull_uint_var()  # largest acknowledged
            buf.pull_uint_var()  # delay
            for _ in range(buf.pull_uint_var() * 2 + 1):  # first range, then gap/range pairs
                buf.pull_uint_var()
            if kind == _ACK_ECN:
                for _ in range(3):
                    buf.pull_uint_var()
            continue
        if kind != _CRYPTO:
            break  # nothing else may precede the ClientHello in a client's first Initial
        offset = buf.pull_uint_var()
        pieces[offset] = buf.pull_bytes(buf.pull_uint_var())
    stream = b""
    while len(stream) in pieces:  # contiguous from offset 0, as far as this packet goes
        stream += pieces.pop(len(stream))
    return stream
