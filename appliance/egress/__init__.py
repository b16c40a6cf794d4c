"""What leaves the box: every destination with what it receives (`destinations`), and the firewall list that
opens exactly those destinations on the box image (`firewall`)."""
