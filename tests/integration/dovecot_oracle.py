"""A throwaway Debian Dovecot (imapd) on loopback, the oracle the MIME tests compare
mailgwd's FETCH answers with (dovecot_instance.py: its own base_dir and config file), one
user with a static password whose Maildir is a copy of a mailgwd user's, plain IMAP on
127.0.0.1 (it only ever sees test messages). Runs as root, dropping to nobody for mail
access as mailgwd does."""
import imaplib
import os
import shutil

import dovecot_instance

PASSWORD = "oracle-pw"

CONF = """\
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
passdb {{
  driver = static
  args = password={pw}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/home/%u
}}
mail_location = maildir:{dir}/Maildir
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def available():
    return dovecot_instance.available("imap")


class Dovecot(dovecot_instance.Dovecot):
    def __init__(self, root, maildir):
        """An instance under root serving a copy of the Maildir at maildir, started."""
        super().__init__(root)
        os.makedirs(os.path.join(self.dir, "home"))
        shutil.copytree(maildir, os.path.join(self.dir, "Maildir"))
        pw = self.mail_user
        self.configure(CONF.format(dir=self.dir, port=self.port, uid=pw.pw_uid, gid=pw.pw_gid,
                                   pw=PASSWORD))
        for top in ("Maildir", "home"):
            self.own(os.path.join(self.dir, top), pw)
        self.start()

    def login(self):
        m = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        m.login("oracle", PASSWORD)
        return m
