// Package domain holds Tally's vocabulary: the types every other package speaks
// (users, campaigns, money, tracking events), the rules about them, and the one
// error type with a code that the transports map to their own shapes.
//
// It imports neither MongoDB nor gqlgen: repositories and resolvers depend on it,
// never the other way round.
package domain

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. The GraphQL edge copies them into extensions.code unchanged.
const (
	EUNAUTHENTICATED = "UNAUTHENTICATED"
	EFORBIDDEN       = "FORBIDDEN"
	EINVALID         = "BAD_USER_INPUT"
	ENOTFOUND        = "NOT_FOUND"
	ECONFLICT        = "CONFLICT"
	ERATELIMITED     = "RATE_LIMITED"
	EUNAVAILABLE     = "SERVICE_UNAVAILABLE"
	EINTERNAL        = "INTERNAL_SERVER_ERROR"
)

// Error is an error a caller can act on: a code, a message meant for people, and
// for invalid input the path of the offending field (for example
// "input.priorityWeights"). Any other error is internal and its text is never
// shown to a client.
type Error struct {
	Code    string
	Message string
	Field   string
	// RetryAfter is how long a RATE_LIMITED caller should wait; the
	// transports send it as Retry-After.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns a BAD_USER_INPUT error about one input field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Field: field, Message: fmt.Sprintf(format, args...)}
}

// RateLimited returns a RATE_LIMITED error: try again after retryAfter.
func RateLimited(retryAfter time.Duration, format string, args ...any) *Error {
	return &Error{Code: ERATELIMITED, Message: fmt.Sprintf(format, args...), RetryAfter: retryAfter}
}

// RetryAfter returns how long a RATE_LIMITED err says to wait, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) && e.Code == ERATELIMITED {
		return e.RetryAfter
	}
	return 0
}

// ErrorCode returns the code of err, EINTERNAL for anything that is not an
// *Error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of err, and "Internal error." for
// anything that is not an *Error.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrorField returns the input path an error is about, or "".
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// FieldErrors is several invalid fields reported at once; each is an *Error
// with code BAD_USER_INPUT.
type FieldErrors []*Error

func (fe FieldErrors) Error() string {
	if len(fe) == 0 {
		return "no field errors"
	}
	msg := fe[0].Error()
	if len(fe) > 1 {
		msg += fmt.Sprintf(" (and %d more)", len(fe)-1)
	}
	return msg
}

// Unwrap lets errors.As find the first field error.
func (fe FieldErrors) Unwrap() []error {
	out := make([]error, len(fe))
	for i, e := range fe {
		out[i] = e
	}
	return out
}
