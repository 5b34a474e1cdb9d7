// The WebTransport stream framing of the real engine.io-parser
// (createPacketEncoderStream / createPacketDecoderStream), for chanio's
// codec tests.
//
// Usage:
//   node stream-frames.js encode packets.json
//     packets.json: [{"type": "message", "text": "hi"} | {"type": "message",
//     "base64": "AQID"} | {"type": "message", "fill": "x", "n": 70000,
//     "binary": false}, ...]. Prints [{"wire": "<hex>"}] per packet: the
//     bytes the encoder stream produced for it, header and packet.
//   node stream-frames.js decode <maxPayload> input.json
//     input.json: {"chunks": ["<hex>", ...]}, fed to the decoder stream one
//     chunk at a time. Prints the packets decoded, in order, as
//     [{"type": ..., "text": ...} | {"type": "message", "base64": ...} |
//     {"type": "error"}], stopping at the first error.
const fs = require("fs");
const { createPacketEncoderStream, createPacketDecoderStream } = require("engine.io-parser");

function packetOf(spec) {
  if (spec.base64 !== undefined) {
    return { type: spec.type, data: Buffer.from(spec.base64, "base64") };
  }
  if (spec.fill !== undefined) {
    const s = spec.fill.repeat(spec.n);
    return { type: spec.type, data: spec.binary ? Buffer.from(s, "latin1") : s };
  }
  return spec.text === undefined ? { type: spec.type } : { type: spec.type, data: spec.text };
}

async function encode(specs) {
  const out = [];
  for (const spec of specs) {
    // One encoder stream per packet, so that each packet's bytes are known.
    const stream = createPacketEncoderStream();
    const writer = stream.writable.getWriter();
    const reader = stream.readable.getReader();
    writer.write(packetOf(spec));
    writer.close();
    const chunks = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      chunks.push(Buffer.from(value));
    }
    out.push({ wire: Buffer.concat(chunks).toString("hex") });
  }
  return out;
}

async function decode(maxPayload, chunks) {
  const stream = createPacketDecoderStream(maxPayload, "nodebuffer");
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const out = [];
  let failed = false;
  const reading = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      if (failed) continue; // what follows an error means nothing
      if (value.type === "error") {
        out.push({ type: "error" });
        failed = true;
        continue;
      }
      if (Buffer.isBuffer(value.data)) {
        out.push({ type: value.type, base64: value.data.toString("base64") });
      } else if (value.data === undefined) {
        out.push({ type: value.type });
      } else {
        out.push({ type: value.type, text: value.data });
      }
    }
  })();
  for (const c of chunks) {
    await writer.write(Buffer.from(c, "hex"));
  }
  await writer.close();
  await reading;
  return out;
}

async function main() {
  const args = process.argv.slice(2);
  const input = JSON.parse(fs.readFileSync(args[args.length - 1], "utf8"));
  const result = args[0] === "encode" ? await encode(input) : await decode(Number(args[1]), input.chunks);
  process.stdout.write(JSON.stringify(result) + "\n");
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
