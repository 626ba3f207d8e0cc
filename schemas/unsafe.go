package schemas

import "unsafe"

// bytesToString views b as a string without copying: for values that do
// not outlive b, or (Decoder.Shared) whose b is never modified.
func bytesToString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
