"""Stand-ins for servers that cannot be installed here: small, faithful to the wire, and
named as stand-ins wherever they are used. The official clients are the judges."""
