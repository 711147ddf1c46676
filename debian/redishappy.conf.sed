# Turns etc/redishappy.conf.sample into the package's
# /etc/redishappy/redishappy.conf: the sample's Sentinel (127.0.0.1:26379)
# is commented out, so "redishappyd -n" -- and the unit's ExecStartPre --
# refuse the file with "[sentinels]: missing required key 'address'" until
# the operator names the Sentinels.
/^\[sentinels\]/,/^\[/{
	s/^address = /#address = /
	/^# Seed Sentinels/i\
# Debian: redishappyd does not start until at least one address is set here.
}
