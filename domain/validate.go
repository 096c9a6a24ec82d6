package domain

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/go-playground/validator/v10"
)

// The validator is built once; it caches struct metadata and is safe for
// concurrent use.
var (
	validateOnce sync.Once
	validate     *validator.Validate
)

func structValidator() *validator.Validate {
	validateOnce.Do(func() {
		v := validator.New(validator.WithRequiredStructEnabled())
		// Error paths use the GraphQL (json) names, not the Go ones.
		v.RegisterTagNameFunc(func(f reflect.StructField) string {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "" || name == "-" {
				return f.Name
			}
			return name
		})
		must(v.RegisterValidation("weekday", func(fl validator.FieldLevel) bool {
			_, ok := Weekday(fl.Field().String()).Time()
			return ok
		}))
		must(v.RegisterValidation("hhmm", func(fl validator.FieldLevel) bool {
			_, ok := ParseClock(fl.Field().String())
			return ok
		}))
		must(v.RegisterValidation("iana_tz", func(fl validator.FieldLevel) bool {
			_, err := LoadTimezone(fl.Field().String())
			return err == nil
		}))
		must(v.RegisterValidation("signup_role", func(fl validator.FieldLevel) bool {
			r := Role(fl.Field().String())
			return r == RoleStreamer || r == RoleBrand
		}))
		validate = v
	})
	return validate
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// ParseClock parses "HH:MM" (00:00–23:59) into minutes after midnight.
func ParseClock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, false
	}
	return t.Hour()*60 + t.Minute(), true
}

// LoadTimezone loads an IANA time zone such as "Europe/Berlin" or "UTC". The
// empty name and "Local" (which mean the server's zone to Go) are refused.
func LoadTimezone(name string) (*time.Location, error) {
	if name == "" || name == "Local" {
		return nil, fmt.Errorf("not an IANA time zone: %q", name)
	}
	return time.LoadLocation(name)
}

// validateStruct runs the tag rules of v and returns one *Error per failing
// field, with paths under prefix ("input.blackoutPeriods[0].startTime").
func validateStruct(prefix string, v any) FieldErrors {
	err := structValidator().Struct(v)
	if err == nil {
		return nil
	}
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return FieldErrors{Invalid(prefix, "%s", "invalid input")}
	}
	out := make(FieldErrors, 0, len(verrs))
	for _, fe := range verrs {
		path := fe.Namespace()
		if _, rest, ok := strings.Cut(path, "."); ok { // drop the struct's Go name
			path = rest
		}
		if prefix != "" {
			path = prefix + "." + path
		}
		out = append(out, Invalid(path, "%s", fieldMessage(fe)))
	}
	return out
}

// fieldMessage says, in words a person can act on, what a field must be.
func fieldMessage(fe validator.FieldError) string {
	name := fe.Field()
	isText := fe.Kind() == reflect.String
	isList := fe.Kind() == reflect.Slice
	switch fe.Tag() {
	case "required":
		if isList {
			return name + " must not be empty"
		}
		return name + " is required"
	case "email":
		return name + " must be a valid email address, like name@example.com"
	case "min":
		switch {
		case isText:
			return fmt.Sprintf("%s must be at least %s characters long", name, fe.Param())
		case isList && fe.Param() == "1":
			return name + " must not be empty"
		case isList:
			return fmt.Sprintf("%s must have at least %s entries", name, fe.Param())
		}
		return fmt.Sprintf("%s must be at least %s", name, fe.Param())
	case "max":
		switch {
		case isText:
			return fmt.Sprintf("%s must be at most %s characters long", name, fe.Param())
		case isList:
			return fmt.Sprintf("%s must have at most %s entries", name, fe.Param())
		}
		return fmt.Sprintf("%s must be at most %s", name, fe.Param())
	case "gte":
		return fmt.Sprintf("%s must be at least %s", name, fe.Param())
	case "lte":
		return fmt.Sprintf("%s must be at most %s", name, fe.Param())
	case "unique":
		if fe.Param() != "" {
			return name + " must not repeat a " + lowerFirst(fe.Param())
		}
		return name + " must not repeat a value"
	case "weekday":
		return name + " must be a day of the week, MONDAY to SUNDAY"
	case "hhmm":
		return fmt.Sprintf("%s must be a time of day as HH:MM (00:00 to 23:59), got %q", name, fe.Value())
	case "necsfield":
		return name + " must differ from startTime (a window of no length)"
	case "iana_tz":
		return fmt.Sprintf("%s must be an IANA time zone such as Europe/Berlin or UTC, got %q", name, fe.Value())
	case "signup_role":
		return name + " must be STREAMER or BRAND"
	case "campaign_url":
		return name + " must be an absolute http(s) URL such as https://example.com/offer?click={click_id}"
	case "clickid":
		return name + " must be 1–64 characters of letters, digits, '.', '_' and '-'"
	case "goalid":
		return name + " may only hold letters, digits, '.', '_' and '-'"
	}
	return fmt.Sprintf("%s is not valid (%s)", name, fe.Tag())
}

func hasFieldError(errs FieldErrors, path string) bool {
	for _, e := range errs {
		if e.Field == path || strings.HasPrefix(e.Field, path+".") {
			return true
		}
	}
	return false
}

func init() {
	v := structValidator()
	must(v.RegisterValidation("campaign_url", func(fl validator.FieldLevel) bool {
		return ValidCampaignURL(fl.Field().String())
	}))
	must(v.RegisterValidation("clickid", func(fl validator.FieldLevel) bool {
		return ValidClickID(fl.Field().String())
	}))
	must(v.RegisterValidation("goalid", func(fl validator.FieldLevel) bool {
		return goalIDPattern.MatchString(fl.Field().String())
	}))
}

var goalIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// lowerFirst turns a Go field name into its GraphQL form (GoalID → goalID).
func lowerFirst(s string) string {
	if s == "GoalID" {
		return "goalId"
	}
	return strings.ToLower(s[:1]) + s[1:]
}
