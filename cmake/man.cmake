# hsmcert.1 from docs/hsmcert.md: the reference text itself, given a man page's
# frame (title line, NAME, SYNOPSIS, COMMANDS) and rendered by go-md2man.
# cmake -DIN=docs/hsmcert.md -DOUT=hsmcert.1 -DGO_MD2MAN=... -DVERSION=x.y.z -P man.cmake
file(READ ${IN} md)
# (CMake's REGEX REPLACE applies "^" at every match, so the head is cut by position.)
# Line 1 is the title "# hsmcert(1)"; the first paragraph after it is the synopsis line.
string(FIND "${md}" "\n\n" at)
math(EXPR at "${at} + 2")
string(SUBSTRING "${md}" ${at} -1 md)
string(FIND "${md}" "\n" at)
string(SUBSTRING "${md}" 0 ${at} synopsis)
string(SUBSTRING "${md}" ${at} -1 md)
# Tables become definition lists (.TP): a man page is read in 80 columns, and
# tbl does not wrap cells. "| a | b | c |" -> "a, b" defined as "c"; the header
# row (the one above "|---|") is dropped.
# (";" would split CMake lists: held as a placeholder until the text is written.)
string(REPLACE ";" "@HC_SEMICOLON@" md "${md}")
string(REPLACE "\n" ";" lines "${md}")
set(md "")
set(prev "")
foreach(line IN LISTS lines)
  if(line MATCHES "^\\|")
    if(line MATCHES "^\\|[-:| ]+\\|$")
      set(prev "") # the header row was held back: drop it
      continue()
    endif()
    if(NOT prev STREQUAL "")
      string(APPEND md "${prev}")
    endif()
    string(REGEX REPLACE "^\\| *| *\\|$" "" row "${line}")
    string(REPLACE " | " ";" cells "${row}")
    list(POP_FRONT cells term)
    list(POP_BACK cells def)
    set(prev "${term}")
    if(cells)
      list(JOIN cells ", " extra)
      string(APPEND prev ", ${extra}")
    endif()
    set(prev "${prev}\n: ${def}\n\n")
  else()
    string(APPEND md "${prev}${line}\n")
    set(prev "")
  endif()
endforeach()
string(APPEND md "${prev}")

# "## tokens" (a command: one lower-case word) becomes a subsection of COMMANDS;
# other sections keep their level, in capitals as man pages have them.
string(REGEX REPLACE "\n## ([a-z][a-z0-9-]*)\n" "\n### \\1\n" md "\n${md}")
string(FIND "${md}" "\n### " first)
if(first GREATER -1)
  string(SUBSTRING "${md}" 0 ${first} head)
  string(SUBSTRING "${md}" ${first} -1 tail)
  set(md "${head}\n## COMMANDS\n${tail}")
endif()
string(REGEX MATCHALL "\n## [^\n]+" heads "${md}")
foreach(h IN LISTS heads)
  string(TOUPPER "${h}" up)
  string(REPLACE "${h}" "${up}" md "${md}")
endforeach()
set(md "# HSMCERT 1 \"\" \"hsmcert ${VERSION}\" \"User Commands\"

## NAME

hsmcert - TLS server certificates whose private keys live on a PKCS#11 token

## SYNOPSIS

${synopsis}

`hsmcert help COMMAND`, `hsmcert COMMAND --help`, `hsmcert --version`
${md}
## SEE ALSO

`p11-kit`(8), `openssl`(1), `pkcs11-tool`(1); docs/json.md and
docs/backup-format.md in the source for the JSON output and the backup format.
")
string(REPLACE "@HC_SEMICOLON@" ";" md "${md}")
file(WRITE ${OUT}.md "${md}")
execute_process(COMMAND ${GO_MD2MAN} -in ${OUT}.md -out ${OUT} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "go-md2man failed on ${OUT}.md")
endif()
