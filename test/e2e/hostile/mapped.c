// The library the hostile-names e2e test's target maps under a hostile file
// name: its function is where the test looks for the CodeLens and hover.
int hostile_mapped(int x) {
  return x * 3 + 1;
}
