package peer

// HashWindow is hashWindow, for the external tests.
const HashWindow = hashWindow
