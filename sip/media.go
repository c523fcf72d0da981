package sip

import (
	"strconv"

	"github.com/voicedock/voicedock/media"
)

// startMedia opens the call's RTP session as negotiated; without a media
// engine, or a negotiation (an INVITE without SDP), the call is silent.
func (u *UA) startMedia(c *call, ch *choice) {
	if u.cfg.Media == nil || ch == nil {
		return
	}
	c.mu.Lock()
	ms := c.media
	c.mu.Unlock()
	if ms == nil {
		return
	}
	u.cfg.Media.Open(c.id, ms.rtp.conn, mediaParams(*ch))
}

// answeredMedia reads the SDP answer to our offer: the codec it kept, its
// address and its direction.
func answeredMedia(body []byte) (*choice, error) {
	d, err := parseSDP(body)
	if err != nil {
		return nil, err
	}
	ch, err := choose(d)
	if err != nil {
		return nil, err
	}
	return &ch, nil
}

// mediaParams turns a negotiation into the media session's parameters.
func mediaParams(ch choice) media.Params {
	p := media.Params{Remote: ch.remote, Codec: media.PCMU, TelephoneEvent: -1, Send: ch.dir == dirSendRecv || ch.dir == dirSendOnly}
	if ch.codec == codecPCMA {
		p.Codec = media.PCMA
	}
	if pt, err := strconv.ParseUint(ch.codecPT, 10, 7); err == nil {
		p.PayloadType = uint8(pt)
	}
	if pt, err := strconv.ParseUint(ch.tePT, 10, 7); err == nil {
		p.TelephoneEvent = int(pt)
	}
	return p
}
