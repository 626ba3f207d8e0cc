package schemas

import "unsafe"

// bytesToString views b as a string without copying; only for values that
// do not outlive b and are not retained (number parsing).
func bytesToString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
