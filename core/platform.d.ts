// What the core may use of its platforms: only what browsers and Node both
// give, declared as narrowly as the core uses it. Read by core/tsconfig.json
// alone; the Node and DOM builds have their own, fuller declarations.

interface TextDecoderOptions {
  fatal?: boolean;
}

declare class TextDecoder {
  constructor(label?: string, options?: TextDecoderOptions);
  decode(input?: Uint8Array): string;
}

declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
