// The library the C debuggee (debuggee.c) dlopens after the capture has
// attached: built with -g, so its region lists this file and a CodeLens
// over debuggee_checksum says where it is mapped.
unsigned debuggee_checksum(const char *text) {
  unsigned sum = 0;
  for (; *text; text++) sum = sum * 31 + (unsigned char)*text;
  return sum;
}
