package batch

// How captured output goes into a result line: a JSON string when readable, else base64.

import (
	"encoding/base64"
	"unicode"
	"unicode/utf8"
)

// textSlack is how much longer than its base64 form a text's JSON string
// may be and still be sent as text: small outputs full of quotes (a
// program printing JSON) stay readable, while no output makes the line
// grow past about 4/3 of the captured bytes.
const textSlack = 1 << 10

// asText reports whether b goes into a result line as a JSON string: valid
// UTF-8 with no control characters but tab, CR and LF, whose JSON string
// (without HTML escaping) is at most textSlack bytes longer than its base64
// form. Anything else is sent base64-encoded, byte-exact.
func asText(b []byte) bool {
	limit := base64.StdEncoding.EncodedLen(len(b)) + textSlack
	escaped := 0
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			return false
		}
		switch {
		case r == '\t' || r == '\r' || r == '\n' || r == '"' || r == '\\':
			escaped += 2
		case unicode.IsControl(r):
			return false
		case r == '\u2028' || r == '\u2029':
			escaped += 6 // encoding/json escapes them for JavaScript
		default:
			escaped += size
		}
		if escaped > limit {
			return false
		}
		b = b[size:]
	}
	return true
}

// encodeOutput puts b into *text when it reads as text (see asText), into
// *b64 otherwise; the other stays nil, so each output appears in exactly
// one field.
func encodeOutput(b []byte, text, b64 **string) {
	if asText(b) {
		s := string(b)
		*text = &s
		return
	}
	s := base64.StdEncoding.EncodeToString(b)
	*b64 = &s
}
