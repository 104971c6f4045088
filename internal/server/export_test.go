package server

// CacheOptions is cacheOptions, for the tests of package server_test (which
// may import test/framework: it imports this package).
var CacheOptions = cacheOptions
