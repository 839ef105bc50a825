"""Independent check of the chunk codec with Google's protobuf runtime.

usage: protobuf_crosscheck.py decode IN      # IN: records written by the Swift encoder
       protobuf_crosscheck.py encode OUT N   # OUT: N random messages for the Swift decoder

A record is: u32 big-endian length, bytes; records come in pairs (expected data, message).
"""
import random
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory


def message_classes():
    proto = descriptor_pb2.FileDescriptorProto(name="upstreamproxy.proto", package="relay")
    Field = descriptor_pb2.FieldDescriptorProto
    chunk = proto.message_type.add(name="UpstreamProxyChunk")
    chunk.field.add(name="data", number=1, type=Field.TYPE_BYTES, label=Field.LABEL_OPTIONAL)
    # A later version of the message with fields our decoder must skip.
    wide = proto.message_type.add(name="WideChunk")
    wide.field.add(name="data", number=1, type=Field.TYPE_BYTES, label=Field.LABEL_OPTIONAL)
    wide.field.add(name="counter", number=2, type=Field.TYPE_UINT64, label=Field.LABEL_OPTIONAL)
    wide.field.add(name="fixed", number=3, type=Field.TYPE_FIXED64, label=Field.LABEL_OPTIONAL)
    wide.field.add(name="note", number=4, type=Field.TYPE_STRING, label=Field.LABEL_OPTIONAL)
    wide.field.add(name="small", number=5, type=Field.TYPE_FIXED32, label=Field.LABEL_OPTIONAL)
    wide.field.add(name="far", number=123456, type=Field.TYPE_SINT64, label=Field.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    get = message_factory.GetMessageClass
    return get(pool.FindMessageTypeByName("relay.UpstreamProxyChunk")), get(pool.FindMessageTypeByName("relay.WideChunk"))


def read_records(path):
    with open(path, "rb") as f:
        blob = f.read()
    records, offset = [], 0
    while offset < len(blob):
        (length,) = struct.unpack_from(">I", blob, offset)
        offset += 4
        records.append(blob[offset : offset + length])
        offset += length
    return records


def main():
    Chunk, Wide = message_classes()
    if sys.argv[1] == "decode":
        records = read_records(sys.argv[2])
        for index in range(0, len(records), 2):
            expected, message = records[index], records[index + 1]
            parsed = Chunk()
            parsed.ParseFromString(message)
            assert parsed.data == expected, f"message {index // 2}: data differs"
            # Our encoder writes the canonical form, so protobuf's own encoding must match it byte for byte.
            assert Chunk(data=expected).SerializeToString() == message, f"message {index // 2}: not canonical"
        print(f"decoded {len(records) // 2} messages")
    else:
        rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 7)
        sizes = [0, 1, 127, 128, 16383, 16384, 512 * 1024]
        count = int(sys.argv[3])
        with open(sys.argv[2], "wb") as out:
            for index in range(count):
                size = sizes[index] if index < len(sizes) else rng.choice([rng.randrange(0, 300), rng.randrange(0, 70000)])
                data = rng.randbytes(size)
                if index % 3 == 0:
                    message = Chunk(data=data).SerializeToString()
                else:
                    wide = Wide(data=data, counter=rng.randrange(0, 2**64), fixed=rng.randrange(0, 2**64),
                                note="x" * rng.randrange(0, 200), small=rng.randrange(0, 2**32),
                                far=rng.randrange(-(2**40), 2**40))
                    message = wide.SerializeToString()
                    if index % 3 == 2:
                        # Field 1 twice: protobuf keeps the last one; so must we.
                        message = Chunk(data=b"stale").SerializeToString() + message
                for record in (data, message):
                    out.write(struct.pack(">I", len(record)))
                    out.write(record)
        print(f"encoded {count} messages")


if __name__ == "__main__":
    main()
