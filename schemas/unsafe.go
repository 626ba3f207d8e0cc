package schemas

import "unsafe"

// bytesToString views b as a string without copying: for values that do
// not outlive b, or (Decoder.Shared) that are valid until the caller
// reuses b.
func bytesToString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
