package choker

import "errors"

// ErrConfig reports a configuration a policy refuses. Policies never clamp a
// bad value, least of all a price: they refuse it with an error that wraps
// ErrConfig and says which field is wrong.
var ErrConfig = errors.New("choker: invalid configuration")
