// Placeholder main until the parent/engine split lands.
int main() { return 0; }
