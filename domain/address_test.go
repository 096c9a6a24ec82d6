package domain

import (
	"context"
	"net/netip"
	"testing"
)

// TestBrowserHost: hosts are read as browsers read them (the WHATWG URL
// standard's host parser), so that every spelling of an address is that
// address.
func TestBrowserHost(t *testing.T) {
	for _, c := range []struct {
		host, ascii, addr string // addr "" for a name
		ok                bool
	}{
		{"127.0.0.1", "127.0.0.1", "127.0.0.1", true},
		{"127.1", "127.1", "127.0.0.1", true},
		{"127.0.1", "127.0.1", "127.0.0.1", true},
		{"0177.0.0.1", "0177.0.0.1", "127.0.0.1", true},
		{"127.000.000.001", "127.000.000.001", "127.0.0.1", true},
		{"2130706433", "2130706433", "127.0.0.1", true},
		{"0x7f.0.0.1", "0x7f.0.0.1", "127.0.0.1", true},
		{"0X7F.1", "0x7f.1", "127.0.0.1", true},
		{"0x7f000001", "0x7f000001", "127.0.0.1", true},
		{"017700000001", "017700000001", "127.0.0.1", true},
		{"127.0.0.1.", "127.0.0.1.", "127.0.0.1", true},
		{"１２７.０.０.１", "127.0.0.1", "127.0.0.1", true},
		{"127。0。0。1", "127.0.0.1", "127.0.0.1", true},
		{"0", "0", "0.0.0.0", true},
		{"0x", "0x", "0.0.0.0", true},
		{"10.1", "10.1", "10.0.0.1", true},
		{"192.168.257", "192.168.257", "192.168.1.1", true},
		{"169.254.43518", "169.254.43518", "169.254.169.254", true},
		{"93.184.215.14", "93.184.215.14", "93.184.215.14", true},
		{"::1", "::1", "::1", true},
		{"::ffff:127.0.0.1", "::ffff:127.0.0.1", "::ffff:127.0.0.1", true},
		{"fe80::1", "fe80::1", "fe80::1", true},
		// A name that ends in a number and is no address: no host at all.
		{"256.0.0.1", "", "", false},
		{"1.2.3.4.5", "", "", false},
		{"4294967296", "", "", false},
		{"09.0.0.1", "", "", false},
		{"foo.0x7f", "", "", false},
		{"example.1", "", "", false},
		{"1..2", "", "", false},
		{"fe80::1%eth0", "", "", false},
		{"", "", "", false},
		{"xn--zz", "", "", false},
		// Names.
		{"example.com", "example.com", "", true},
		{"EXAMPLE.com", "example.com", "", true},
		{"1.2.3.example.com", "1.2.3.example.com", "", true},
		{"0x7f.example.com", "0x7f.example.com", "", true},
		{"example.0xg", "example.0xg", "", true},
		{"bücher.de", "xn--bcher-kva.de", "", true},
		{"localhost", "localhost", "", true},
	} {
		ascii, addr, ok := BrowserHost(c.host)
		if ok != c.ok {
			t.Errorf("BrowserHost(%q): ok %v, want %v", c.host, ok, c.ok)
			continue
		}
		if !ok {
			continue
		}
		got := ""
		if addr.IsValid() {
			got = addr.String()
		}
		if ascii != c.ascii || got != c.addr {
			t.Errorf("BrowserHost(%q) = %q, %q; want %q, %q", c.host, ascii, got, c.ascii, c.addr)
		}
	}
}

// TestPublicURLsCheck: every spelling of a loopback, private, link-local or
// unspecified address is refused on save; public addresses and names stay
// accepted (names are looked up, and checked again when called).
func TestPublicURLsCheck(t *testing.T) {
	resolved := map[string][]netip.Addr{
		"example.com":       {netip.MustParseAddr("93.184.215.14")},
		"1.2.3.example.com": {netip.MustParseAddr("93.184.215.15")},
		"inside.example.":   {netip.MustParseAddr("10.0.0.5")},
	}
	p := PublicURLs{Lookup: func(_ context.Context, host string) ([]netip.Addr, error) {
		return resolved[host], nil
	}}
	refused := []string{
		"http://127.0.0.1:8080/", "http://127.1:8080/", "http://0177.0.0.1:8080/", "http://127.000.000.001:8080/",
		"http://2130706433:8080/", "http://0x7f.0.0.1:8080/", "http://0x7f000001/", "http://127.0.0.1.:8080/",
		"http://１２７.０.０.１/", "http://0/", "http://0.0.0.0/", "http://0x0/", "http://10.1/", "http://012.0.0.1/",
		"http://192.168.257/", "http://0xc0.0xa8.1.1/", "http://172.16.1/", "http://169.254.43518/latest/meta-data/",
		"http://0xa9fea9fe/", "http://[::1]/", "http://[0:0:0:0:0:0:0:1]/", "http://[::ffff:127.0.0.1]/",
		"http://[::ffff:7f00:1]/", "http://[fe80::1]/", "http://[fc00::1]/", "http://[fd12:3456::1]/", "http://[::]/",
		"http://256.0.0.1/", "http://example.1/", "http://localhost/", "http://LOCALHOST./", "http://inside.example./",
		"https://user@127.1/",
	}
	for _, u := range refused {
		err := p.Check(context.Background(), "input.landingUrl", u)
		if ErrorCode(err) != EINVALID || ErrorField(err) != "input.landingUrl" {
			t.Errorf("%s: got %v, want BAD_USER_INPUT on input.landingUrl", u, err)
		}
	}
	for _, u := range []string{
		"https://93.184.215.14/offer?click={click_id}", "http://93.184.215.14:8080/", "http://1572329230/",
		"http://[2606:2800:220:1:248:1893:25c8:1946]/", "https://example.com/x", "https://EXAMPLE.com./x",
		"https://1.2.3.example.com/", "https://not-resolvable.example.org/",
	} {
		if err := p.Check(context.Background(), "input.landingUrl", u); err != nil {
			t.Errorf("%s: refused: %v", u, err)
		}
	}
}
