package postback

import "context"

// Step claims one due delivery and sends it; sent is false when nothing was
// due. The tests drive senders with it, one delivery at a time.
func (s *Sender) Step(ctx context.Context) (sent bool, err error) {
	e, token, ok, err := s.claim(ctx)
	if err != nil || !ok {
		return false, err
	}
	return true, s.deliver(ctx, e, token)
}
