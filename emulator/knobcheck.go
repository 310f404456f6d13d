package emulator

import (
	"fmt"
	"slices"
	"strings"
)

// Stream error codes EventsErrorCode may name (the Events API's transient
// ones: the client reconnects from the offset).
const (
	EventsErrorTimeout           = "timeout"
	EventsErrorConnectionTimeout = "connection_timeout"
)

// CheckKnobs reports a knob of the fidelity set (password policy, stream
// error code, token rate limit, search timing) whose value the emulator
// cannot use, naming it by its JSON name. PATCH /emulator/knobs refuses
// such a patch with 400.
func CheckKnobs(k Knobs) error {
	if k.PasswordPolicy != "" && !slices.Contains(PasswordPolicies, k.PasswordPolicy) {
		return fmt.Errorf("knob \"password_policy\": %q is not one of %s", k.PasswordPolicy, strings.Join(PasswordPolicies, ", "))
	}
	switch k.EventsErrorCode {
	case "", EventsErrorTimeout, EventsErrorConnectionTimeout:
	default:
		return fmt.Errorf("knob \"events_error_code\": %q is not %s or %s", k.EventsErrorCode, EventsErrorTimeout, EventsErrorConnectionTimeout)
	}
	for name, d := range map[string]float64{
		"events_error_after": k.EventsErrorAfter.Seconds(), "search_duration": k.SearchDuration.Seconds(),
		"search_timeout": k.SearchTimeout.Seconds(), "token_rate_limit": k.TokenRateLimit, "token_rate_burst": float64(k.TokenRateBurst),
	} {
		if d < 0 {
			return fmt.Errorf("knob %q must not be negative", name)
		}
	}
	return nil
}
